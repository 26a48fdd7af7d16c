"""Split documents into chunks of whole sentences, each keeping its offset in the document."""

from __future__ import annotations

from langchain_core.documents import Document

from qa_bot.text import Span, sentence_spans


def _pack(spans: list[Span], size: int, overlap: int) -> list[tuple[int, int]]:
    """Group consecutive sentences into (first, last) index pairs of about ``size`` characters.

    A chunk ends before the sentence that would push it past ``size`` (a single longer sentence
    makes a chunk of its own); the next chunk restarts with the trailing sentences that fit in
    ``overlap`` characters, so no sentence is ever cut.
    """
    groups: list[tuple[int, int]] = []
    first = 0
    while first < len(spans):
        last = first
        while last + 1 < len(spans) and spans[last + 1].end - spans[first].start <= size:
            last += 1
        groups.append((first, last))
        if last + 1 >= len(spans):
            break
        restart = last + 1
        while restart - 1 > first and spans[last].end - spans[restart - 1].start <= overlap:
            restart -= 1
        first = restart
    return groups


def _marks(spans: list[Span], start: int) -> str:
    """Sentence bounds relative to a chunk starting at ``start``: "0:87 88:190"."""
    return " ".join(f"{s.start - start}:{s.end - start}" for s in spans)


def split_documents(docs: list[Document], size: int, overlap: int) -> list[Document]:
    """Chunk every document; metadata gains ``offset`` (start in the document), ``position``
    and ``sentences`` (the sentence bounds, so later stages need not segment again).

    ``position`` numbers the chunks of one source file in reading order, across its pages.
    """
    chunks: list[Document] = []
    position = 0
    for doc in docs:
        text = doc.page_content
        spans = sentence_spans(text)
        for first, last in _pack(spans, size, overlap):
            start, end = spans[first].start, spans[last].end
            metadata = {
                **doc.metadata,
                "offset": start,
                "position": position,
                "sentences": _marks(spans[first : last + 1], start),
            }
            chunks.append(Document(page_content=text[start:end], metadata=metadata))
            position += 1
    return chunks
