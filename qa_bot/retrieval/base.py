"""What every retrieval stage shares: scores carried in a chunk's metadata, and the LangChain
retriever over the store that the first-stage searches specialise."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from qa_bot.storage.store import Store


def with_score(doc: Document, stage: str, value: float) -> Document:
    """A copy of ``doc`` whose metadata gains ``chunk_id``, the ``stage``'s score and ``score``
    (the score of the last stage that ranked it)."""
    metadata = {**doc.metadata, "chunk_id": doc.id, stage: value, "score": value}
    return Document(id=doc.id, page_content=doc.page_content, metadata=metadata)


def ranked(docs: list[Document], stage: str, scores: list[float]) -> list[Document]:
    """``docs`` sorted by ``scores``, best first, each scored by ``stage``."""
    pairs = sorted(zip(docs, scores, strict=True), key=lambda pair: pair[1], reverse=True)
    return [with_score(doc, stage, score) for doc, score in pairs]


class StoreSearch(BaseRetriever):
    """One search over the store's chunks: top ``k``, optionally ``only`` some documents; a
    query ``vector`` computed once may be passed along."""

    store: Store
    k: int = 5

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        only: list[str] | None = None,
        vector: list[float] | None = None,
        **_: Any,
    ) -> list[Document]:
        return self.search(query, k or self.k, only, vector)

    @abstractmethod
    def search(
        self, query: str, k: int, only: list[str] | None, vector: list[float] | None
    ) -> list[Document]:
        """The ``k`` best chunks, each scored."""
