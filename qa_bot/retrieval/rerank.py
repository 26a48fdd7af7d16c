"""Second-stage reranking of the fused candidates, best first, with a ``rerank`` score.

Rerankers are registered by name in ``qa_bot.registry.RERANKERS``; a folder path instead of a
name loads a local sentence-transformers cross-encoder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from langchain_core.documents import Document

from qa_bot.registry import RERANKERS
from qa_bot.retrieval.base import ranked
from qa_bot.text import chunk_sentences, with_before

if TYPE_CHECKING:
    from qa_bot.config import Settings
    from qa_bot.reader.reader import Reader
    from qa_bot.storage.sentences import SentenceVectors
    from qa_bot.storage.store import Store

# How the sentence reranker weighs its three signals (set by hand, not fitted to a benchmark).
BEST_SENTENCE, WHOLE_CHUNK, KEYWORDS = 0.5, 0.3, 0.2


class Scored(Protocol):
    """What the sentence reranker reads (a ``Store`` is one): stored chunk vectors, BM25
    scores and cached sentence vectors."""

    sentence_embeddings: SentenceVectors

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]: ...

    def keyword_scores(self, query: str, ids: list[str]) -> dict[str, float]: ...


class Reranker(ABC):
    """Reorders candidate chunks for a query."""

    @abstractmethod
    def rerank(self, query: str, vector: list[float], docs: list[Document]) -> list[Document]:
        """``docs`` best first; ``vector`` is the query's embedding."""


class SentenceReranker(Reranker):
    """Scores a chunk by the bundled embedding model's best match among its sentences (whose
    vectors are cached once derived), its whole-chunk similarity and its BM25 share. A chunk
    deleted since the BM25 index last followed Chroma (by another replica) is left out.

    A whole-chunk vector blurs a passage into one point; a question usually matches one of its
    sentences, so the best sentence carries most of the weight, and BM25 rewards exact names.
    """

    def __init__(self, store: Scored) -> None:
        self.store = store

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> SentenceReranker:
        return cls(store)

    def rerank(self, query: str, vector: list[float], docs: list[Document]) -> list[Document]:
        chunk_vectors = self.store.vectors([doc.id or "" for doc in docs])
        docs = [doc for doc in docs if doc.id in chunk_vectors]  # not deleted meanwhile
        if not docs:
            return []
        ids = [doc.id or "" for doc in docs]
        query_vector = np.asarray(vector)
        known: dict[str, float] = {
            doc.id or "": doc.metadata["bm25"] for doc in docs if "bm25" in doc.metadata
        }
        looked_up = self.store.keyword_scores(query, [i for i in ids if i not in known])
        keywords = {**known, **looked_up}  # the first stage's BM25 scores, the rest looked up
        top_keywords = max(keywords.values(), default=0.0) or 1.0
        sentences = [[s.text for s in chunk_sentences(doc)] for doc in docs]
        flat = [text for texts in sentences for text in texts]
        cached = self.store.sentence_embeddings
        similarity = cached.vectors(flat) @ query_vector if flat else np.empty(0)
        scores, start = [], 0
        for chunk_id, texts in zip(ids, sentences, strict=True):
            whole = float(chunk_vectors[chunk_id] @ query_vector)
            best = float(similarity[start : start + len(texts)].max()) if texts else whole
            start += len(texts)
            share = keywords.get(chunk_id, 0.0) / top_keywords
            scores.append(BEST_SENTENCE * best + WHOLE_CHUNK * whole + KEYWORDS * share)
        return ranked(docs, "rerank", scores)


class ReaderReranker(Reranker):
    """Scores a chunk by qa-bot's reader: the probability that its best sentence answers the
    question (the reader keeps its readings, so the answerer does not read them again)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> ReaderReranker:
        from qa_bot.reader.reader import reader_for

        return cls(reader_for(settings.store))

    def rerank(self, query: str, vector: list[float], docs: list[Document]) -> list[Document]:
        pairs = [[(s.text, before) for s, before in with_before(chunk_sentences(d))] for d in docs]
        readings = self.reader.read(query, [p for chunk in pairs for p in chunk])
        scores, start = [], 0
        for chunk in pairs:
            scores.append(
                max((r.answers for r in readings[start : start + len(chunk)]), default=0.0)
            )
            start += len(chunk)
        return ranked(docs, "rerank", scores)


class CrossEncoderReranker(Reranker):
    """A sentence-transformers cross-encoder loaded from a local folder (no hub access)."""

    def __init__(self, path: Path) -> None:
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(str(path), device="cpu", local_files_only=True)

    def rerank(self, query: str, vector: list[float], docs: list[Document]) -> list[Document]:
        if not docs:
            return []
        scores = self.model.predict([(query, doc.page_content) for doc in docs])
        return ranked(docs, "rerank", [float(s) for s in scores])


def no_reranker(settings: Settings, store: Store) -> None:
    """``none``: keep the fused order."""
    return None


def make_reranker(settings: Settings, store: Store) -> Reranker | None:
    """The reranker ``settings.retrieval.reranker`` names: registered, or a cross-encoder folder
    (the settings have checked that it is one or the other)."""
    name = settings.retrieval.reranker
    if name in RERANKERS.names():
        reranker: Reranker | None = RERANKERS.get(name)(settings, store)
        return reranker
    return CrossEncoderReranker(Path(name).expanduser())
