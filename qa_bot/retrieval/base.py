"""What every retrieval stage shares: scores carried in a chunk's metadata, and the LangChain
retriever over the store that the first-stage searches specialise."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from qa_bot.retrieval.filters import select_documents
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
    """One search over the store's chunks: top ``k``; a query ``vector`` computed once may be
    passed along. Two keyword arguments narrow a call: ``within``, the exact names of the
    documents it may read (the chain's: those the caller may read; an empty list finds
    nothing), and ``only``, patterns (file, folder, glob) chosen among those. Both are applied
    inside each search, so no other chunk is ever scored."""

    store: Store
    k: int = 5

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        only: list[str] | None = None,
        within: list[str] | None = None,
        vector: list[float] | None = None,
        **_: Any,
    ) -> list[Document]:
        if only is not None:
            known = self.store.documents() if within is None else set(within)
            within = select_documents(only, known)
        return self.search(query, k or self.k, within, vector)

    @abstractmethod
    def search(
        self, query: str, k: int, within: list[str] | None, vector: list[float] | None
    ) -> list[Document]:
        """The ``k`` best chunks, each scored, of the documents ``within`` names (None: any;
        an empty list: none)."""
