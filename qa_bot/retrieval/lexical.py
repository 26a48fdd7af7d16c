"""Keyword search: BM25 over the same chunks (tantivy, English stemming)."""

from __future__ import annotations

from langchain_core.documents import Document

from qa_bot.retrieval.base import StoreSearch, with_score


class LexicalRetriever(StoreSearch):
    """Top-k BM25; metadata gains ``bm25`` (higher is better)."""

    def search(
        self, query: str, k: int, within: list[str] | None, vector: list[float] | None
    ) -> list[Document]:
        hits = self.store.keyword_search(query, k, within)
        return [with_score(doc, "bm25", doc.metadata["bm25"]) for doc in hits]
