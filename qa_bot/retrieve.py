"""Retrieval as LangChain retrievers: dense (Chroma) and BM25 search, fused with reciprocal rank
fusion, reranked, optionally diversified with MMR. ``HybridRetriever`` is the whole pipeline."""

from __future__ import annotations

import fnmatch
from typing import Any, Literal

import numpy as np
from langchain_chroma import Chroma
from langchain_classic.retrievers import EnsembleRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from qa_bot.errors import QaBotError
from qa_bot.lexical import LexicalIndex
from qa_bot.rerank import Reranker, make_reranker
from qa_bot.store import Store

Mode = Literal["dense", "bm25", "hybrid"]


def match_sources(patterns: list[str], known: set[str]) -> list[str]:
    """The indexed sources a filter selects: each pattern is a file ("notes/a.md"), a folder
    ("notes" or "notes/") or a glob ("*.pdf"). A pattern that selects nothing is an error."""
    chosen: set[str] = set()
    for pattern in patterns:
        folder = pattern.strip("/") + "/"
        hits = {s for s in known if s == pattern or s.startswith(folder)}
        hits |= set(fnmatch.filter(known, pattern))
        if not hits:
            raise QaBotError(
                f"No indexed document matches '{pattern}': give a file or folder path relative "
                "to the corpus folder, or a pattern such as '*.pdf'."
            )
        chosen |= hits
    return sorted(chosen)


def _tagged(doc: Document, **scores: float) -> Document:
    """A copy of ``doc`` whose metadata gains ``chunk_id``, ``scores`` and ``score``."""
    (value,) = scores.values()
    metadata = {**doc.metadata, "chunk_id": doc.id, **scores, "score": value}
    return Document(id=doc.id, page_content=doc.page_content, metadata=metadata)


class DenseRetriever(BaseRetriever):
    """Top-k cosine similarity in Chroma; metadata gains ``dense`` (cosine, 0..1)."""

    vectorstore: Chroma
    k: int = 5

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        sources: list[str] | None = None,
        vector: list[float] | None = None,
    ) -> list[Document]:
        vector = vector or self.vectorstore.embeddings.embed_query(query)
        hits = self.vectorstore.similarity_search_by_vector_with_relevance_scores(
            vector, k=k or self.k, filter={"source": {"$in": sources}} if sources else None
        )
        return [_tagged(doc, dense=max(0.0, 1.0 - distance)) for doc, distance in hits]


class LexicalRetriever(BaseRetriever):
    """Top-k BM25 over the same chunks; metadata gains ``bm25``."""

    index: LexicalIndex
    k: int = 5

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        sources: list[str] | None = None,
        **_: Any,
    ) -> list[Document]:
        return [
            _tagged(doc, bm25=doc.metadata["bm25"])
            for doc in self.index.search(query, k or self.k, sources)
        ]


def _mmr(docs: list[Document], vectors: np.ndarray, k: int, weight: float) -> list[Document]:
    """Maximal marginal relevance over already-ranked ``docs``: relevance is each doc's own
    ``score`` (the reranker's, not just cosine to the query), penalised by similarity to the
    docs chosen before it. (LangChain's helper only knows cosine relevance.)"""
    relevance = np.array([doc.metadata["score"] for doc in docs])
    chosen: list[int] = []
    while len(chosen) < min(k, len(docs)):
        redundancy = (vectors @ vectors[chosen].T).max(axis=1) if chosen else 0.0
        gain = weight * relevance - (1 - weight) * redundancy
        gain[chosen] = -np.inf
        chosen.append(int(gain.argmax()))
    return [docs[i] for i in chosen]


class HybridRetriever(BaseRetriever):
    """qa-bot's retrieval pipeline: dense + BM25 (``mode``), fused by reciprocal rank fusion,
    the ``candidates`` best reranked, optionally diversified (``mmr_lambda``), top ``k`` kept.

    ``invoke(query, k=3, sources=["reports/"])`` narrows one call; every document carries its
    ``score`` from the last stage that ranked it, and ``chunk_id``.
    """

    store: Store
    k: int = 5
    mode: Mode = "hybrid"
    candidates: int = 20
    reranker: Reranker | None = None
    mmr_lambda: float | None = None

    @classmethod
    def from_store(cls, store: Store, **overrides: Any) -> HybridRetriever:
        """The pipeline the settings describe (``overrides`` win)."""
        s = store.settings
        fields = {
            "k": s.top_k,
            "mode": s.retrieval,
            "candidates": s.candidates,
            "reranker": make_reranker(s, store),
            "mmr_lambda": s.mmr_lambda,
        }
        return cls(store=store, **{**fields, **overrides})

    def _first_stage(self, query: str, **kwargs: Any) -> list[Document]:
        """Candidates from dense search, BM25, or both fused (LangChain's weighted RRF)."""
        dense = DenseRetriever(vectorstore=self.store.vectorstore, k=self.candidates)
        lexical = LexicalRetriever(index=self.store.lexical, k=self.candidates)
        chosen = {"dense": [dense], "bm25": [lexical], "hybrid": [dense, lexical]}[self.mode]
        fused = EnsembleRetriever(retrievers=[r.bind(**kwargs) for r in chosen], id_key="chunk_id")
        return fused.invoke(query)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        sources: list[str] | None = None,
    ) -> list[Document]:
        k = k or self.k
        if sources is not None:
            sources = match_sources(sources, self.store.lexical.sources())
        vector = self.store.embeddings.embed_query(query)
        docs = self._first_stage(query, sources=sources, vector=vector)[: self.candidates]
        if self.reranker:
            docs = self.reranker.rerank(query, vector, docs)
        if self.mmr_lambda is not None and len(docs) > k:
            got = self.store.vectorstore.get(ids=[d.id for d in docs], include=["embeddings"])
            by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
            vectors = np.array([by_id[d.id] for d in docs])
            docs = _mmr(docs, vectors, k, self.mmr_lambda)
        return docs[:k]
