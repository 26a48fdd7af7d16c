"""``ChromaIndex``: the ``VectorIndex`` on Chroma, embedded (``PersistentClient`` in the data
dir) or a Chroma server (``store.chroma_host``); a server that is down or failing is one plain
sentence instead of a connection error from deep inside chromadb."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

import chromadb
import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from qa_bot.config import Settings
from qa_bot.errors import QaBotError, StoreUnavailableError

P = ParamSpec("P")
T = TypeVar("T")

READ_BATCH = 5000
"""Most chunks read per Chroma call (its SQLite refuses more than 32,766 variables)."""


def _unreachable(settings: Settings) -> StoreUnavailableError:
    store = settings.store
    return StoreUnavailableError(
        f"Cannot reach the Chroma server at http://{store.chroma_host}:{store.chroma_port}: "
        f"start it (chroma run --host {store.chroma_host} --port {store.chroma_port}) or "
        "unset QA_BOT_STORE__CHROMA_HOST to use the embedded store."
    )


def _is_connection_error(err: BaseException) -> bool:
    """True for a refused, reset or timed-out connection anywhere in the error's chain."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, (httpx.TransportError, ConnectionError, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return "connect" in str(err).lower()


def _reaching(
    method: Callable[Concatenate[ChromaIndex, P], T],
) -> Callable[Concatenate[ChromaIndex, P], T]:
    """A Chroma server that is down or failing becomes one plain sentence."""

    @functools.wraps(method)
    def call(self: ChromaIndex, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self.guard():
            return method(self, *args, **kwargs)

    return call


def _client(settings: Settings) -> ClientAPI:
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    store = settings.store
    if store.chroma_host is None:
        return chromadb.PersistentClient(
            path=str(settings.data_path / "chroma"), settings=chroma_settings
        )
    try:
        client = chromadb.HttpClient(
            host=store.chroma_host, port=store.chroma_port, settings=chroma_settings
        )
        client.heartbeat()
    except Exception as err:  # connection refused, DNS, TLS, HTTP errors
        raise _unreachable(settings) from err
    return client


class ChromaIndex:
    """One Chroma collection (cosine space) through LangChain's ``Chroma``."""

    def __init__(self, settings: Settings, client: ClientAPI, name: str) -> None:
        self.settings = settings
        self.name = name
        self._client = client
        self._store: Chroma | None = None

    @contextmanager
    def guard(self) -> Iterator[None]:
        """A Chroma server that is down or failing, within this block, is one sentence."""
        try:
            yield
        except QaBotError:
            raise
        except Exception as err:
            if self.settings.server_mode and _is_connection_error(err):
                raise _unreachable(self.settings) from err
            raise

    @classmethod
    def open(cls, settings: Settings, name: str) -> ChromaIndex:
        """Collection ``name`` on the embedded store or the configured server."""
        return cls(settings, _client(settings), name)

    @_reaching
    def made_by(self) -> dict[str, Any] | None:
        if self.name not in self.names():
            return None
        return dict(self._client.get_collection(self.name).metadata or {})

    def attach(self, embeddings: Embeddings) -> None:
        store = self.settings.store
        self._store = Chroma(
            collection_name=self.name,
            embedding_function=embeddings,
            client=self._client,
            collection_metadata={"embedding_model": store.embedding_model, "runner": store.runner},
            collection_configuration={"hnsw": {"space": "cosine"}},
        )

    @property
    def vectorstore(self) -> Chroma:
        assert self._store is not None, "attach the embeddings first"
        return self._store

    @_reaching
    def names(self) -> list[str]:
        return [c.name for c in self._client.list_collections()]

    @_reaching
    def ids(self) -> set[str]:
        return set(self.vectorstore.get(include=[])["ids"])

    @_reaching
    def count(self) -> int:
        return int(self._client.get_collection(self.name).count())

    @_reaching
    def get(
        self, ids: list[str] | None = None, documents: list[str] | None = None
    ) -> list[Document]:
        """The chunks, ``READ_BATCH`` at a time."""
        pages: list[dict[str, Any]] = []
        include: Any = ["documents", "metadatas"]
        if ids is not None:
            for start in range(0, len(ids), READ_BATCH):
                batch = ids[start : start + READ_BATCH]
                pages.append(self.vectorstore.get(ids=batch, include=include))
        else:
            where: Any = {"source": {"$in": documents}} if documents is not None else None
            while not pages or len(pages[-1]["ids"]) == READ_BATCH:
                offset = READ_BATCH * len(pages)
                pages.append(
                    self.vectorstore.get(
                        where=where, limit=READ_BATCH, offset=offset, include=include
                    )
                )
        return [
            Document(id=i, page_content=text, metadata=meta)
            for page in pages
            for i, text, meta in zip(page["ids"], page["documents"], page["metadatas"], strict=True)
        ]

    @_reaching
    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self.vectorstore.get(ids=ids, include=["embeddings"])
        return {i: np.asarray(v) for i, v in zip(got["ids"], got["embeddings"], strict=True)}

    @_reaching
    def search(
        self, vector: list[float], k: int, only: list[str] | None
    ) -> list[tuple[Document, float]]:
        if only is not None and not only:
            return []  # no document: nothing (Chroma would take an empty filter for none)
        where: dict[str, Any] | None = {"source": {"$in": only}} if only is not None else None
        hits = self.vectorstore.similarity_search_by_vector_with_relevance_scores(
            vector, k=k, filter=where
        )
        return [(doc, max(0.0, 1.0 - distance)) for doc, distance in hits]

    @_reaching
    def delete(self, ids: list[str]) -> None:
        self.vectorstore.delete(ids=ids)

    @_reaching
    def generation(self) -> str | None:
        stamp = (self._client.get_collection(self.name).metadata or {}).get("generation")
        return str(stamp) if stamp else None

    @_reaching
    def stamp(self, generation: str) -> str | None:
        collection = self._client.get_collection(self.name)
        metadata = collection.metadata or {}
        collection.modify(metadata={**metadata, "generation": generation})
        previous = metadata.get("generation")
        return str(previous) if previous else None

    def fresh(self, name: str) -> ChromaIndex:
        return ChromaIndex(self.settings, self._client, name)

    @_reaching
    def drop(self) -> None:
        self._client.delete_collection(self.name)
