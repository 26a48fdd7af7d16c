"""Retrieval: a LangChain retriever over the store that returns chunks with their scores."""

from __future__ import annotations

from langchain_chroma import Chroma
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever


class DenseRetriever(BaseRetriever):
    """Top-k cosine similarity search; each document's metadata gains ``score`` (0..1)."""

    vectorstore: Chroma
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self.vectorstore.similarity_search_with_score(query, k=self.k)
        return [
            Document(
                id=doc.id,
                page_content=doc.page_content,
                metadata={**doc.metadata, "score": max(0.0, 1.0 - distance)},
            )
            for doc, distance in hits
        ]
