"""Dense search: the chunks whose vectors are closest to the question's."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from qa_bot.retrieval.scored import with_score
from qa_bot.storage.store import Store


class DenseRetriever(BaseRetriever):
    """Top-k cosine similarity in Chroma; metadata gains ``dense`` (cosine, 0..1)."""

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
        vector = vector or self.store.embeddings.embed_query(query)
        hits = self.store.dense_search(vector, k or self.k, only)
        return [with_score(doc, "dense", similarity) for doc, similarity in hits]
