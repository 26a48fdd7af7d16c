"""Keyword search: BM25 over the same chunks (SQLite FTS5, Porter stemming)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from qa_bot.retrieval.scored import with_score
from qa_bot.storage.store import Store


class LexicalRetriever(BaseRetriever):
    """Top-k BM25; metadata gains ``bm25`` (higher is better)."""

    store: Store
    k: int = 5

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        only: list[str] | None = None,
        **_: Any,
    ) -> list[Document]:
        return [
            with_score(doc, "bm25", doc.metadata["bm25"])
            for doc in self.store.keyword_search(query, k or self.k, only)
        ]
