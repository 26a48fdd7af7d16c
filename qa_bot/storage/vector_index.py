"""What ``Store`` needs of a vector database: ``VectorIndex``. ``ChromaIndex``
(``qa_bot/storage/chroma.py``) is the one implementation, registered in ``INDEXES``; another
database plugs in by implementing this protocol and registering a factory (CONTRIBUTING.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import numpy as np
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore

    from qa_bot.config import Settings


class VectorIndex(Protocol):
    """One collection of chunks with their vectors, and the database that holds it."""

    name: str
    """The collection's name (it changes on a rebuild)."""

    def made_by(self) -> dict[str, Any] | None:
        """What the collection records about the model that embedded it; None before it
        exists. Asked before the model loads."""
        ...

    def guard(self) -> AbstractContextManager[None]:
        """A context in which the database's own failures (a server down) become one sentence
        (``StoreUnavailableError``): writes through ``vectorstore`` run in it."""
        ...

    def attach(self, embeddings: Embeddings) -> None:
        """Embed with ``embeddings`` from now on (the collection is created if new, recording
        ``store.embedding_model`` and ``store.runner``)."""
        ...

    @property
    def vectorstore(self) -> VectorStore:
        """The collection as a LangChain vector store: LangChain's indexing API writes to it."""
        ...

    def names(self) -> list[str]:
        """Every collection in the database."""
        ...

    def ids(self) -> set[str]:
        """Ids of every chunk."""
        ...

    def count(self) -> int:
        """Number of chunks."""
        ...

    def get(
        self, ids: list[str] | None = None, documents: list[str] | None = None
    ) -> list[Document]:
        """The chunks with these ids, or of these documents (``source``), or all."""
        ...

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """The stored vector of each chunk id."""
        ...

    def search(
        self, vector: list[float], k: int, only: list[str] | None
    ) -> list[tuple[Document, float]]:
        """The ``k`` chunks closest to ``vector`` with their cosine similarity (0..1), from the
        documents ``only`` names when given (an empty list: none, so nothing is found)."""
        ...

    def delete(self, ids: list[str]) -> None:
        """Remove these chunks."""
        ...

    def generation(self) -> str | None:
        """The collection's generation stamp (None before its first write)."""
        ...

    def stamp(self, generation: str) -> str | None:
        """Set a new generation stamp; returns the one it replaced."""
        ...

    def fresh(self, name: str) -> VectorIndex:
        """An empty collection ``name`` in the same database (not attached yet)."""
        ...

    def drop(self) -> None:
        """Delete the collection."""
        ...


class IndexFactory(Protocol):
    """``INDEXES`` entries: collection ``name`` of the database ``settings`` describe, not yet
    attached to a model; a database that cannot be reached is one sentence
    (``StoreUnavailableError``)."""

    def __call__(self, settings: Settings, name: str) -> VectorIndex: ...
