"""Dense search: the chunks whose vectors are closest to the question's."""

from __future__ import annotations

from langchain_core.documents import Document

from qa_bot.retrieval.base import StoreSearch, with_score


class DenseRetriever(StoreSearch):
    """Top-k cosine similarity in Chroma; metadata gains ``dense`` (cosine, 0..1)."""

    def search(
        self, query: str, k: int, within: list[str] | None, vector: list[float] | None
    ) -> list[Document]:
        if within is not None and not within:
            return []
        vector = vector or self.store.embeddings.embed_query(query)
        hits = self.store.dense_search(vector, k, within)
        return [with_score(doc, "dense", similarity) for doc, similarity in hits]
