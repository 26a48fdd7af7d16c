"""The index: chunks and their vectors in a vector database (``VectorIndex``; Chroma by
default), the same chunks in a BM25 index, a record of what was ingested, and a cache of
sentence vectors. Open once per process with ``Store.open``; every other part of qa-bot goes
through its methods."""

from __future__ import annotations

import hashlib
import math
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_classic.indexes import SQLRecordManager
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.indexing import index

from qa_bot.config import Settings
from qa_bot.errors import IndexNotReadyError
from qa_bot.registry import INDEXES
from qa_bot.storage.bm25 import LexicalIndex
from qa_bot.storage.database import database_url, engine, reaching
from qa_bot.storage.embeddings import load_embeddings
from qa_bot.storage.sentences import SentenceVectors
from qa_bot.storage.vector_index import VectorIndex


@dataclass(frozen=True)
class IndexChange:
    """What indexing one document changed."""

    added: int
    deleted: int
    was_indexed: bool

    @property
    def changed(self) -> bool:
        return bool(self.added or self.deleted)


def _data_dir_id(data_path: Path) -> str:
    """A random id stored in the data dir, so two data dirs never share a server collection."""
    id_file = data_path / "id"
    if not id_file.exists():
        id_file.write_text(uuid.uuid4().hex[:12])
    return id_file.read_text().strip()


INDEX_BATCH = 1024
"""Most chunks embedded and written per call (Chroma takes at most 5,461 at once)."""

_UNSYNCED = "unsynced"
"""No generation yet: the first ``follow`` syncs whatever the collection's stamp."""

ACTIVE = "active-collection"
"""The file in the data dir naming the collection queries use (it changes on a rebuild)."""


def _active_collection(settings: Settings) -> str:
    """The collection in use: the configured one, else the last rebuild's, else the first."""
    if settings.store.collection:
        return settings.store.collection
    pointer = settings.data_path / ACTIVE
    if pointer.exists():
        return pointer.read_text().strip()
    return f"qa_bot-{_data_dir_id(settings.data_path)}"


def _check_made_alike(settings: Settings, facts: dict[str, Any] | None) -> None:
    """Refuse an index whose vectors another embedding model or runner made."""
    if facts is None:
        return
    built_with, wanted = facts.get("embedding_model"), settings.store.embedding_model
    if built_with != wanted:
        raise IndexNotReadyError(
            f"The index in {settings.data_path} was built with the embedding model "
            f"'{built_with}', not '{wanted}': run `qa-bot ingest --rebuild`."
        )
    runner = str(facts.get("runner", "torch"))  # indexes older than the runner setting
    if runner != settings.store.runner:
        encoder, _, precision = runner.partition("-")
        keep = f"QA_BOT_STORE__ENCODER={encoder}" + (
            f" and QA_BOT_STORE__PRECISION={precision}" if precision else ""
        )
        raise IndexNotReadyError(
            f"The index in {settings.data_path} was embedded by {runner}, not "
            f"{settings.store.runner}: run `qa-bot ingest --rebuild` to embed it again, or set "
            f"{keep} to keep using it."
        )


class Store:
    """Chunks with their vectors (a ``VectorIndex``), keywords (BM25) and sentence vectors
    (cached), and the record of what was ingested."""

    def __init__(self, settings: Settings, embeddings: Embeddings, vectors: VectorIndex) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self._index = vectors
        vectors.attach(embeddings)
        where = (
            f"{settings.store.chroma_host}:{settings.store.chroma_port}"
            if settings.server_mode
            else "local"
        )
        namespace = f"{where}/{vectors.name}"
        self._database = database_url(settings, "records.sqlite")
        self._records = SQLRecordManager(namespace, engine=engine(self._database))
        with reaching(self._database):
            self._records.create_schema()
        lexical_dir = settings.data_path / "lexical"
        lexical_dir.mkdir(exist_ok=True)
        key = hashlib.sha256(namespace.encode()).hexdigest()[:16]
        self._lexical = LexicalIndex(lexical_dir / key)
        self._generation: str | None = _UNSYNCED  # the index generation BM25 last followed
        self._checked = -math.inf  # when that was last asked
        self._following = threading.Lock()
        self.sentence_embeddings = SentenceVectors(
            embeddings,
            settings.data_path / "sentence-vectors.sqlite",
            f"{settings.store.embedding_model}@{settings.store.runner}",
        )
        """Embeds chunk sentences, cached: each sentence is embedded the first time a question
        reads its chunk, then read back."""

    @classmethod
    def open(
        cls,
        settings: Settings,
        embeddings: Embeddings | None = None,
        *,
        any_model: bool = False,
    ) -> Store:
        """Connect to (or create) the index described by ``settings``; ``any_model`` opens an
        index built with another embedding model or encoder (only to rebuild it). The check
        comes before the model loads."""
        vectors: VectorIndex = INDEXES.get(settings.store.index)(
            settings, _active_collection(settings)
        )
        if not any_model:
            _check_made_alike(settings, vectors.made_by())
        return cls(settings, embeddings or load_embeddings(settings.store), vectors)

    # reading

    @property
    def collection_name(self) -> str:
        """The collection holding the chunks."""
        return self._index.name

    def collection_names(self) -> list[str]:
        """Every collection in the vector database."""
        return self._index.names()

    def chunk_ids(self) -> set[str]:
        """Ids of every chunk in the vector index."""
        return self._index.ids()

    def keyword_ids(self) -> set[str]:
        """Ids of every chunk in the BM25 index (equal to ``chunk_ids`` once synced)."""
        return self._lexical.ids()

    def count(self) -> int:
        """Number of chunks in the index."""
        return self._index.count()

    def chunk(self, chunk_id: str) -> Document | None:
        """One chunk by id, or None."""
        found = self._index.get(ids=[chunk_id])
        return found[0] if found else None

    def chunks(self, document: str | None = None) -> list[Document]:
        """Every chunk in the index, or those of one document, with ids and metadata."""
        return self._index.get(documents=[document] if document else None)

    def generation(self) -> str | None:
        """The collection's generation stamp: it changes with every write, by any process."""
        return self._index.generation()

    def documents(self) -> set[str]:
        """Names (paths relative to their folder) of every indexed document."""
        self.follow()
        return self._lexical.documents()

    def chunk_counts(self) -> dict[str, int]:
        """The number of chunks of every indexed document (from the BM25 index, in line with
        ``documents``)."""
        self.follow()
        return self._lexical.chunk_counts()

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored vector of each chunk id."""
        return self._index.vectors(ids)

    def dense_search(
        self, vector: list[float], k: int, only: list[str] | None = None
    ) -> list[tuple[Document, float]]:
        """The ``k`` chunks closest to ``vector`` with their cosine similarity (0..1), from the
        documents ``only`` names when given (an empty list: none)."""
        return self._index.search(vector, k, only)

    def keyword_search(self, query: str, k: int, only: list[str] | None = None) -> list[Document]:
        """The ``k`` best chunks by BM25, ``bm25`` in their metadata, from the documents ``only``
        names when given (an empty list: none); the filter is part of the query, so no other
        chunk is scored."""
        self.follow()
        return self._lexical.search(query, k, only)

    def keyword_scores(self, query: str, ids: list[str]) -> dict[str, float]:
        """BM25 scores of the given chunks (absent: no word in common with the query)."""
        self.follow()
        return self._lexical.scores(query, ids)

    # writing

    def index_documents(self, documents: dict[str, list[Document]]) -> dict[str, IndexChange]:
        """Make each document's chunks those given, in one pass (so the model embeds across
        files in length-sorted batches): new chunks are embedded, unchanged ones kept, stale
        ones removed, and the BM25 index follows (one commit). Sentence vectors are not computed
        here: ``serve``'s warmer, or else the first question to read a chunk, embeds them."""
        with reaching(self._database), self._index.guard():
            before = {name: self._keys(name) for name in documents}
            chunks = [chunk for group in documents.values() for chunk in group]
            index(
                chunks,
                self._records,
                self._index.vectorstore,
                cleanup="scoped_full",
                source_id_key="source",
                key_encoder="sha256",
                batch_size=max(1, min(len(chunks), INDEX_BATCH)),
            )
            changes = {}
            for name, old in before.items():
                new = self._keys(name)
                changes[name] = IndexChange(len(new - old), len(old - new), bool(old))
        touched = [name for name, change in changes.items() if change.changed]
        if touched:
            self._lexical.replace(self._chunks_of(touched))
            self._stamp()
        return changes

    def _keys(self, document: str) -> set[str]:
        """Ids of the chunks the record manager holds for ``document``."""
        return set(self._records.list_keys(group_ids=[document]))

    def _chunks_of(self, documents: list[str]) -> dict[str, list[Document]]:
        """The stored chunks of several documents, by document, in one read."""
        grouped: dict[str, list[Document]] = {name: [] for name in documents}
        if documents:
            for chunk in self._index.get(documents=documents):
                grouped[chunk.metadata["source"]].append(chunk)
        return grouped

    def delete_document(self, document: str) -> int:
        """Remove every chunk of one document; return how many were removed."""
        with reaching(self._database), self._index.guard():
            keys = self._records.list_keys(group_ids=[document])
            if keys:
                self._index.delete(keys)
                self._records.delete_keys(keys)
                self._stamp()
        self._lexical.replace({document: []})
        return len(keys)

    def sync_lexical(self) -> None:
        """Bring the BM25 index in line with the vector index: chunks another process added (a
        replica, or a server another machine filled) are read, those it removed are dropped."""
        in_vectors, in_bm25 = self.chunk_ids(), self._lexical.ids()
        if in_vectors != in_bm25:
            added = list(in_vectors - in_bm25)
            self._lexical.update(self._index.get(ids=added), in_bm25 - in_vectors)

    def follow(self, now: bool = False) -> None:
        """Sync the BM25 index when the collection changed since it was last synced (another
        process stamps it on every write); asked at most every ``store.follow_seconds``, by
        one thread at a time. ``now``: ask at once, waiting for a sync under way, for a caller
        that must see every document another process wrote (an admin naming a source)."""
        started = time.monotonic()
        if not now and started - self._checked < self.settings.store.follow_seconds:
            return
        if not self._following.acquire(blocking=now):
            return
        try:
            self._checked = started
            generation = self.generation()
            if generation != self._generation:
                self.sync_lexical()
                self._generation = generation
        finally:
            self._following.release()

    def _stamp(self) -> None:
        """Give the collection a new generation, so other processes' BM25 indexes follow.
        This one is in line with its own write, and with the collection too unless another
        process wrote since it last followed (then its next ``follow`` syncs)."""
        stamp = uuid.uuid4().hex
        current = self._index.stamp(stamp)
        in_line = current == self._generation or (current is None and self._generation != _UNSYNCED)
        self._generation = stamp if in_line else _UNSYNCED
        if not in_line:
            self._checked = -math.inf

    def fresh(self) -> Store:
        """An empty store on a new collection, for a rebuild: this one keeps serving queries
        until the new one is ``activate``d."""
        base = self._index.name.split(".r", 1)[0]
        fresh = self._index.fresh(f"{base}.r{uuid.uuid4().hex[:8]}")
        return Store(self.settings, self.embeddings, fresh)

    def activate(self) -> None:
        """Make this store's collection the one every later ``Store.open`` uses."""
        if self.settings.store.collection:
            raise IndexNotReadyError(
                "A rebuild needs a collection of its own: unset QA_BOT_STORE__COLLECTION."
            )
        pointer = self.settings.data_path / ACTIVE
        tmp = pointer.with_suffix(".tmp")
        tmp.write_text(self._index.name)
        tmp.replace(pointer)

    def drop(self) -> None:
        """Delete this store's collection, records and BM25 index (after a rebuild replaced
        it)."""
        with reaching(self._database):
            self._records.delete_keys(self._records.list_keys())
        self._index.drop()
        self._lexical.drop()
