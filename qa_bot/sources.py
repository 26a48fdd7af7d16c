"""The source viewer's data: a stretch of a document around one chunk, rebuilt from the index
(by chunk id only: no path ever comes from a request), with the quoted span marked."""

from __future__ import annotations

from langchain_core.documents import Document
from pydantic import BaseModel

from qa_bot.errors import QaBotError
from qa_bot.store import Store

CONTEXT = 600  # characters shown on each side of the chunk


class SourceNotFoundError(QaBotError):
    """No chunk has the requested id (the index changed, or the link is wrong)."""


class SourceView(BaseModel):
    """Text around a chunk; ``text[mark_start:mark_end]`` is the quoted span."""

    chunk_id: str
    source: str
    title: str
    page: int | None
    text: str
    mark_start: int
    mark_end: int


def _stitch(chunks: list[Document]) -> str:
    """A document's text (or one page's) from its overlapping chunks, placed at their offsets."""
    text = ""
    for chunk in sorted(chunks, key=lambda c: c.metadata["offset"]):
        offset = chunk.metadata["offset"]
        text = text[:offset].ljust(offset) + chunk.page_content
    return text


def view_source(store: Store, chunk_id: str, start: int | None, end: int | None) -> SourceView:
    """The text around chunk ``chunk_id``; the span ``start:end`` (document offsets, as in a
    citation) is marked when it lies in the chunk, else the whole chunk is."""
    found = store.vectorstore.get_by_ids([chunk_id])
    if not found:
        raise SourceNotFoundError(
            "This source is no longer in the index (it was re-ingested or removed): ask again."
        )
    chunk = found[0]
    meta = chunk.metadata
    page = meta.get("page")
    siblings = [c for c in store.chunks(meta["source"]) if c.metadata.get("page") == page]
    text = _stitch(siblings)
    first, last = meta["offset"], meta["offset"] + len(chunk.page_content)
    if start is None or end is None or not first <= start < end <= last:
        start, end = first, last
    window = max(0, first - CONTEXT)
    return SourceView(
        chunk_id=chunk_id,
        source=meta["source"],
        title=meta["title"],
        page=page,
        text=text[window : last + CONTEXT],
        mark_start=start - window,
        mark_end=end - window,
    )
