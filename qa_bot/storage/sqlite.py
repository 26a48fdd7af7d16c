"""One way to open SQLite files: a short-lived connection per call, safe from any thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that commits on success, rolls back on error and is closed either way."""
    with closing(sqlite3.connect(path, timeout=30)) as db, db:
        yield db
