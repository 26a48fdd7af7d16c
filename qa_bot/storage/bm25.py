"""The BM25 index: SQLite FTS5 (Porter stemming) over the same chunks as Chroma, on disk."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from langchain_core.documents import Document

from qa_bot.storage.sqlite import connect
from qa_bot.text import content_words

_SCHEMA = """CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5(
    chunk_id UNINDEXED, source UNINDEXED, metadata UNINDEXED, text,
    tokenize = 'porter unicode61')"""


def match_query(question: str) -> str:
    """An FTS5 query matching any content word of the question ("TSMC" OR "decide")."""
    return " OR ".join(f'"{word}"' for word in dict.fromkeys(content_words(question)))


def _in(column: str, values: Iterable[str] | None) -> tuple[str, list[str]]:
    """An ``AND column IN (...)`` clause and its parameters; empty when ``values`` is None."""
    if values is None:
        return "", []
    values = list(values)
    return f" AND {column} IN ({','.join('?' * len(values))})", values


def _insert(db: sqlite3.Connection, chunks: list[Document]) -> None:
    db.executemany(
        "INSERT INTO chunks VALUES (?, ?, ?, ?)",
        [(c.id, c.metadata["source"], json.dumps(c.metadata), c.page_content) for c in chunks],
    )


class LexicalIndex:
    """Chunks with their ids, sources and metadata in an FTS5 table ranked by BM25.

    One short-lived connection per call, so any thread may use it; writes are transactions.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with connect(self.path) as db:
            db.execute(_SCHEMA)

    def ids(self) -> set[str]:
        """Ids of every chunk in the index."""
        with connect(self.path) as db:
            return {row[0] for row in db.execute("SELECT chunk_id FROM chunks")}

    def documents(self) -> set[str]:
        """Every document with chunks in the index."""
        with connect(self.path) as db:
            return {row[0] for row in db.execute("SELECT DISTINCT source FROM chunks")}

    def replace(self, source: str, chunks: list[Document]) -> None:
        """Make ``chunks`` the only chunks of ``source`` (none: the source is removed)."""
        with connect(self.path) as db:
            db.execute("DELETE FROM chunks WHERE source = ?", (source,))
            _insert(db, chunks)

    def update(self, added: list[Document], removed: set[str]) -> None:
        """Add chunks and remove others by id, in one transaction."""
        with connect(self.path) as db:
            db.execute(  # one pass over the table, whatever the number of ids
                "DELETE FROM chunks WHERE chunk_id IN (SELECT value FROM json_each(?))",
                (json.dumps(sorted(removed)),),
            )
            _insert(db, added)

    def search(self, question: str, k: int, only: list[str] | None = None) -> list[Document]:
        """The ``k`` best chunks by BM25 (of the documents ``only`` names, when given), each
        with ``bm25`` (higher is better) in its metadata."""
        query = match_query(question)
        if not query:
            return []
        where, params = _in("source", only)
        sql = (
            "SELECT chunk_id, metadata, text, -bm25(chunks) FROM chunks "
            f"WHERE chunks MATCH ?{where} ORDER BY bm25(chunks) LIMIT ?"
        )
        with connect(self.path) as db:
            rows = db.execute(sql, [query, *params, k]).fetchall()
        return [
            Document(id=chunk_id, page_content=text, metadata={**json.loads(meta), "bm25": score})
            for chunk_id, meta, text, score in rows
        ]

    def scores(self, question: str, ids: list[str]) -> dict[str, float]:
        """BM25 scores of the given chunks (absent: the chunk shares no word with the question)."""
        query = match_query(question)
        if not query or not ids:
            return {}
        where, params = _in("chunk_id", ids)
        sql = f"SELECT chunk_id, -bm25(chunks) FROM chunks WHERE chunks MATCH ?{where}"
        with connect(self.path) as db:
            return dict(db.execute(sql, [query, *params]).fetchall())
