"""The BM25 index: SQLite FTS5 (Porter stemming) over the same chunks as Chroma, on disk."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from langchain_core.documents import Document

from qa_bot.storage.sqlite import connect
from qa_bot.text import content_words

_TABLE = """CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING fts5(
    chunk_id UNINDEXED, source UNINDEXED, metadata UNINDEXED, text,
    tokenize = 'porter unicode61')"""
VERSION = 2
"""Version 2 keys each row by a rowid derived from its chunk id (``rowid_of``), so the scores
of given chunks and deletes by id look rows up instead of reading the whole table."""


def rowid_of(chunk_id: str) -> int:
    """The row of a chunk: 63 bits of a hash of its id (collisions: ~1e-9 at 100k chunks)."""
    return int.from_bytes(hashlib.blake2b(chunk_id.encode(), digest_size=8).digest()) >> 1


def _create(db: sqlite3.Connection) -> None:
    """Create the table, or bring a version-1 table (rowids in insertion order) to rowids
    derived from chunk ids, in one transaction."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= VERSION:
        return
    db.execute("BEGIN IMMEDIATE")  # one process migrates; the others then find it done
    if db.execute("PRAGMA user_version").fetchone()[0] >= VERSION:
        return
    old = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunks'").fetchone()
    if old:
        db.execute("DROP TABLE IF EXISTS chunks_v2")
        db.execute(_TABLE.format(name="chunks_v2"))
        rows = db.execute("SELECT chunk_id, source, metadata, text FROM chunks")
        db.executemany(
            "INSERT OR REPLACE INTO chunks_v2 (rowid, chunk_id, source, metadata, text) "
            "VALUES (?, ?, ?, ?, ?)",
            ((rowid_of(row[0]), *row) for row in rows.fetchall()),
        )
        db.execute("DROP TABLE chunks")
        db.execute("ALTER TABLE chunks_v2 RENAME TO chunks")
    else:
        db.execute(_TABLE.format(name="chunks"))
    db.execute(f"PRAGMA user_version = {VERSION}")


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
        "INSERT OR REPLACE INTO chunks (rowid, chunk_id, source, metadata, text) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (
                rowid_of(c.id or ""),
                c.id,
                c.metadata["source"],
                json.dumps(c.metadata),
                c.page_content,
            )
            for c in chunks
        ],
    )


class LexicalIndex:
    """Chunks with their ids, sources and metadata in an FTS5 table ranked by BM25.

    One short-lived connection per call, so any thread may use it; writes are transactions.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with connect(self.path) as db:
            _create(db)

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
            db.executemany(
                "DELETE FROM chunks WHERE rowid = ? AND chunk_id = ?",
                [(rowid_of(i), i) for i in sorted(removed)],
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
        sql = "SELECT -bm25(chunks) FROM chunks WHERE chunks MATCH ? AND rowid = ? AND chunk_id = ?"
        with connect(self.path) as db:  # one row looked up per id, not the whole match read
            found = {i: db.execute(sql, (query, rowid_of(i), i)).fetchone() for i in set(ids)}
        return {i: row[0] for i, row in found.items() if row is not None}
