"""Sentence vectors, cached in SQLite: each sentence is embedded the first time a question reads
its chunk, then read back as float32 blobs keyed by the text's SHA-256 (one query per call)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from qa_bot.storage.sqlite import connect

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vector BLOB, "
    "PRIMARY KEY (model, key)) WITHOUT ROWID"
)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class SentenceVectors(Embeddings):
    """``embeddings`` behind a cache shared by every process on the data dir; a write is one
    transaction, so a reader never sees half a vector."""

    def __init__(self, embeddings: Embeddings, path: Path, model: str) -> None:
        self.embeddings, self.path, self.model = embeddings, path, model
        with connect(path) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def vectors(self, texts: list[str]) -> np.ndarray:
        """One row per text (normalised float32; ``texts`` not empty), embedding only those
        not cached yet."""
        keys = [_key(text) for text in texts]
        found = self._read(sorted(set(keys)))
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
        if missing:
            new = np.asarray(self.embeddings.embed_documents([t for _, t in missing]), np.float32)
            rows = [(self.model, k, v.tobytes()) for (k, _), v in zip(missing, new, strict=True)]
            with connect(self.path) as db:
                db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)", rows)
            found.update({k: v for (k, _), v in zip(missing, new, strict=True)})
        return np.stack([found[k] for k in keys])

    def _read(self, keys: list[str]) -> dict[str, np.ndarray]:
        with connect(self.path) as db:
            rows = db.execute(
                "SELECT key, vector FROM vectors WHERE model = ? AND key IN "
                "(SELECT value FROM json_each(?))",
                (self.model, json.dumps(keys)),
            ).fetchall()
        return {key: np.frombuffer(blob, np.float32) for key, blob in rows}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The cached vectors of ``texts``."""
        result: list[list[float]] = self.vectors(texts).tolist()
        return result

    def embed_query(self, text: str) -> list[float]:
        """Questions are not cached: embedded by the model each time."""
        return self.embeddings.embed_query(text)
