"""Where to read on after a refusal: the passages closest to the question among the chunks
retrieved for it (the caller's own), each shown by its sentence that shares the most words
with the question, cut short. Related, never an answer: no citation number, no claim."""

from __future__ import annotations

from langchain_core.documents import Document

from qa_bot.records import Related
from qa_bot.text import chunk_sentences, stems

STATED = (".", "!", "?", '"', "”")
"""How a sentence that states something (not a heading) ends."""
MOST = 3
"""Related passages shown at most."""
EXCERPT_CHARS = 240
"""Longest excerpt; a longer sentence is cut after a whole word."""


def related_passages(question: str, chunks: list[Document], most: int = MOST) -> list[Related]:
    """Up to ``most`` passages of ``chunks`` (best first, as retrieved), one per chunk, none
    shown twice (chunks overlap)."""
    found: list[Related] = []
    for chunk in chunks:
        passage = _excerpt(question, chunk)
        if passage and all(
            (r.source, r.excerpt) != (passage.source, passage.excerpt) for r in found
        ):
            found.append(passage)
        if len(found) == most:
            break
    return found


def _excerpt(question: str, chunk: Document) -> Related | None:
    """The chunk shown by its sentence sharing the most stems with the question (a statement
    before a heading, then the first, on a tie); None for a chunk without text."""
    wanted = stems(question)
    sentences = [s for s in chunk_sentences(chunk) if s.text.strip()]
    if not sentences:
        return None
    best = max(sentences, key=lambda s: (len(wanted & stems(s.text)), s.text.endswith(STATED)))
    return Related.of(chunk, _shortened(best.text), best.start)


def _shortened(text: str) -> str:
    """``text`` of at most ``EXCERPT_CHARS`` characters, cut after a whole word."""
    text = text.strip()
    if len(text) <= EXCERPT_CHARS:
        return text
    return text[: EXCERPT_CHARS + 1].rsplit(" ", 1)[0].rstrip(" ,;:")
