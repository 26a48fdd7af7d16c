"""The source viewer: a passage of a document around one chunk, rebuilt from the index (by
chunk id only: no path ever comes from a request), with the quoted span marked; as JSON
(``/api/sources/{chunk_id}``) and as a page (``/sources/{chunk_id}``). A chunk of a source the
caller may not read is the same 404 as a chunk that is not there."""

from __future__ import annotations

import html
from string import Template

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from langchain_core.documents import Document
from pydantic import BaseModel

from qa_bot.chain import QaChain
from qa_bot.errors import QaBotError
from qa_bot.records import location, text_fragment
from qa_bot.server.access import Principal, readable_groups
from qa_bot.server.deps import Caller, Chain, web_asset

CONTEXT = 600  # characters shown on each side of the chunk
OCR_NOTE = "text read by OCR from a scan: it may hold misread words, check the original"

router = APIRouter()


class PassageNotFoundError(QaBotError):
    """No chunk has the requested id (the index changed, or the link is wrong)."""


class Passage(BaseModel):
    """Text around a chunk; ``text[mark_start:mark_end]`` is the quoted span."""

    chunk_id: str
    source: str
    title: str
    page: int | None
    location: str | None = None  # "page 3", "slide 2", "Sheet Sales, row 14", as citations say
    text: str
    mark_start: int
    mark_end: int
    url: str | None = None  # a web page's address, at the quote (as its citation links it)
    ocr: bool = False  # the text was read by OCR from a scan or an image: check it there


def _stitch(chunks: list[Document]) -> str:
    """A document's text (or one page's) from its overlapping chunks, placed at their offsets."""
    text = ""
    for chunk in sorted(chunks, key=lambda c: c.metadata["offset"]):
        offset = chunk.metadata["offset"]
        text = text[:offset].ljust(offset) + chunk.page_content
    return text


def passage(
    chain: QaChain, caller: Principal | None, chunk_id: str, start: int | None, end: int | None
) -> Passage:
    """The text around chunk ``chunk_id``, when ``caller`` may read its document; the span
    ``start:end`` (document offsets, as in a citation) is marked when it lies in the chunk,
    else the whole chunk is."""
    store = chain.store
    chunk = store.chunk(chunk_id)
    if chunk is None or not chain.may_read(chunk.metadata["source"], readable_groups(caller)):
        raise PassageNotFoundError(
            "This source is no longer in the index (it was re-ingested or removed): ask again."
        )
    meta = chunk.metadata
    where = location(meta)
    siblings = [c for c in store.chunks(meta["source"]) if location(c.metadata) == where]
    text = _stitch(siblings)
    first, last = meta["offset"], meta["offset"] + len(chunk.page_content)
    if start is None or end is None or not first <= start < end <= last:
        start, end = first, last
    window = max(0, first - CONTEXT)
    return Passage(
        chunk_id=chunk_id,
        source=meta["source"],
        title=meta["title"],
        page=meta.get("page"),
        location=where,
        text=text[window : last + CONTEXT],
        mark_start=start - window,
        mark_end=end - window,
        url=text_fragment(meta["url"], text[start:end]) if meta.get("url") else None,
        ocr=bool(meta.get("ocr")),
    )


def highlight_page(view: Passage) -> str:
    """The source viewer page: the text around the chunk, escaped, the quote in <mark>."""
    before, quote, after = (
        view.text[: view.mark_start],
        view.text[view.mark_start : view.mark_end],
        view.text[view.mark_end :],
    )
    page = f" · {html.escape(view.location)}" if view.location else ""
    if view.ocr:
        page += f" · {OCR_NOTE}"
    if view.url and view.url.lower().startswith(("http://", "https://")):
        page += f' · <a href="{html.escape(view.url)}" rel="noopener">open the page</a>'
    return Template(web_asset("source.html")).substitute(
        title=html.escape(view.title),
        source=html.escape(view.source) + page,
        before=html.escape(before),
        quote=html.escape(quote),
        after=html.escape(after),
    )


@router.get("/api/sources/{chunk_id}", response_model=Passage)
def passage_json(
    chunk_id: str, chain: Chain, caller: Caller, start: int | None = None, end: int | None = None
) -> Passage:
    """The document text around a chunk, the quoted span marked (offsets into ``text``)."""
    return passage(chain, caller, chunk_id, start, end)


@router.get("/sources/{chunk_id}", response_class=HTMLResponse)
def passage_page(
    chunk_id: str, chain: Chain, caller: Caller, start: int | None = None, end: int | None = None
) -> str:
    """The source viewer: the text around the chunk with the quote highlighted."""
    return highlight_page(passage(chain, caller, chunk_id, start, end))
