"""The whole retrieval pipeline as one LangChain retriever: dense and BM25 search fused with
reciprocal rank fusion, reranked, optionally diversified with MMR."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from langchain_classic.retrievers import EnsembleRetriever
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from qa_bot.config import Settings
from qa_bot.retrieval.base import StoreSearch
from qa_bot.retrieval.dense import DenseRetriever
from qa_bot.retrieval.lexical import LexicalRetriever
from qa_bot.retrieval.rerank import Reranker, make_reranker
from qa_bot.storage.store import Store

Mode = Literal["dense", "bm25", "hybrid"]


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


class HybridRetriever(StoreSearch):
    """qa-bot's retrieval pipeline: dense + BM25 (``mode``), fused by reciprocal rank fusion,
    the ``candidates`` best reranked, optionally diversified (``mmr_lambda``), top ``k`` kept.

    ``invoke(query, k=3, only=["reports/"])`` narrows one call (``within=[...]``: to these
    documents exactly, as the chain does for a caller's readable ones); every document carries
    its ``score`` from the last stage that ranked it, and ``chunk_id``.
    """

    mode: Mode = "hybrid"
    candidates: int = 20
    reranker: Reranker | None = None
    mmr_lambda: float | None = None

    @classmethod
    def from_settings(
        cls, store: Store, settings: Settings | None = None, **overrides: Any
    ) -> HybridRetriever:
        """The pipeline ``settings`` (default: the store's) describe; ``overrides`` win.
        Pass ``reranker=`` to share one already built."""
        settings = settings or store.settings
        r = settings.retrieval
        fields: dict[str, Any] = {
            "k": r.top_k,
            "mode": r.mode,
            "candidates": r.candidates,
            "mmr_lambda": r.mmr_lambda,
        }
        if "reranker" not in overrides:
            fields["reranker"] = make_reranker(settings, store)
        return cls(store=store, **{**fields, **overrides})

    def _first_stage(self, query: str, depth: int | None = None, **kwargs: Any) -> list[Document]:
        """Candidates (``depth``, default ``candidates``, from each) from dense search, BM25,
        or both fused (LangChain's weighted RRF); those BM25 found carry their ``bm25``
        score."""
        depth = depth or self.candidates
        dense = DenseRetriever(store=self.store, k=depth)
        lexical = LexicalRetriever(store=self.store, k=depth)
        chosen: dict[Mode, list[BaseRetriever]] = {
            "dense": [dense],
            "bm25": [lexical],
            "hybrid": [dense, lexical],
        }
        retrievers = [r.bind(**kwargs) for r in chosen[self.mode]]
        lists = [retriever.invoke(query) for retriever in retrievers]
        fused = EnsembleRetriever(
            retrievers=retrievers,
            weights=[1 / len(retrievers)] * len(retrievers),
            id_key="chunk_id",
        ).weighted_reciprocal_rank(lists)
        keyword = {d.id: d.metadata["bm25"] for d in lists[-1]} if self.mode != "dense" else {}
        return [  # a chunk dense search also found keeps its BM25 score: the reranker reuses it
            Document(
                id=d.id, page_content=d.page_content, metadata={**d.metadata, "bm25": keyword[d.id]}
            )
            if d.id in keyword
            else d
            for d in fused
        ]

    def search(
        self, query: str, k: int, within: list[str] | None, vector: list[float] | None
    ) -> list[Document]:
        if within is not None and not within:
            return []  # nothing readable: nothing is searched, nothing embedded
        vector = vector or self.store.embeddings.embed_query(query)
        depth = max(self.candidates, k)  # a call asking for more chunks than candidates
        docs = self._first_stage(query, depth, within=within, vector=vector)[:depth]
        if self.reranker:
            docs = self.reranker.rerank(query, vector, docs)
        if self.mmr_lambda is not None and len(docs) > k:
            by_id = self.store.vectors([d.id or "" for d in docs])
            vectors = np.array([by_id[d.id or ""] for d in docs])
            docs = _mmr(docs, vectors, k, self.mmr_lambda)
        return docs[:k]
