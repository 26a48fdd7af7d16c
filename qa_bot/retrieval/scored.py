"""Scores carried in a retrieved chunk's metadata, stage after stage."""

from __future__ import annotations

from langchain_core.documents import Document


def with_score(doc: Document, stage: str, value: float) -> Document:
    """A copy of ``doc`` whose metadata gains ``chunk_id``, the ``stage``'s score and ``score``
    (the score of the last stage that ranked it)."""
    metadata = {**doc.metadata, "chunk_id": doc.id, stage: value, "score": value}
    return Document(id=doc.id, page_content=doc.page_content, metadata=metadata)


def ranked(docs: list[Document], stage: str, scores: list[float]) -> list[Document]:
    """``docs`` sorted by ``scores``, best first, each scored by ``stage``."""
    pairs = sorted(zip(docs, scores, strict=True), key=lambda pair: pair[1], reverse=True)
    return [with_score(doc, stage, score) for doc, score in pairs]
