"""The knowledge base's catalog: the folders (sources) it holds and when each document was last
ingested, in ``catalog.sqlite`` in the data dir."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from qa_bot.storage.sqlite import connect

UPLOADS = "uploads"
"""The source that holds files added through the chat or the API (a folder in the data dir)."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sources (name TEXT PRIMARY KEY, path TEXT UNIQUE NOT NULL)",
    "CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, ingested_at TEXT NOT NULL)",
)


class Source(BaseModel):
    """A folder in the knowledge base; its documents are named ``<name>/<path in folder>``.
    ``groups``: who may read it beside admins (empty: everyone), kept in ``restrictions.py``'s
    table."""

    name: str
    path: Path
    groups: list[str] = Field(default_factory=list)


def _slug(text: str) -> str:
    """A source name from a folder name: letters, digits, ``._-``."""
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "docs"


class Catalog:
    """Sources by name, and the time each document was last (re-)ingested."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with connect(path) as db:
            for statement in _SCHEMA:
                db.execute(statement)

    def sources(self) -> list[Source]:
        """Every source, by name."""
        with connect(self.path) as db:
            rows = db.execute("SELECT name, path FROM sources ORDER BY name").fetchall()
        return [Source(name=name, path=Path(path)) for name, path in rows]

    def source(self, name: str) -> Source | None:
        """The source called ``name``, or None."""
        return next((s for s in self.sources() if s.name == name), None)

    def register(
        self, folder: Path, name: str | None = None, taken: set[str] | None = None
    ) -> Source:
        """The source for ``folder`` (absolute), registered under a new unique name if needed
        (also unlike the names in ``taken``: other replicas' sources in a shared collection).
        The name ``uploads`` is kept for the managed uploads folder (asked for by name)."""
        folder = folder.resolve()
        known = self.sources()
        for source in known:
            if source.path == folder:
                return source
        base = name or _slug(folder.name)
        taken = (taken or set()) | {s.name for s in known}
        taken |= {UPLOADS} if name != UPLOADS else set()
        unique = base
        n = 2
        while unique in taken:
            unique, n = f"{base}-{n}", n + 1
        with connect(self.path) as db:
            db.execute("INSERT INTO sources VALUES (?, ?)", (unique, str(folder)))
        return Source(name=unique, path=folder)

    def unregister(self, name: str) -> None:
        """Forget a source (its documents are removed from the index by the caller)."""
        with connect(self.path) as db:
            db.execute("DELETE FROM sources WHERE name = ?", (name,))
            db.execute("DELETE FROM documents WHERE name LIKE ? ESCAPE '\\'", (_prefix(name),))

    def touch(self, document: str) -> None:
        """Record that ``document`` was just ingested."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with connect(self.path) as db:
            db.execute("INSERT OR REPLACE INTO documents VALUES (?, ?)", (document, now))

    def forget(self, document: str) -> None:
        """Drop a removed document's record."""
        with connect(self.path) as db:
            db.execute("DELETE FROM documents WHERE name = ?", (document,))

    def ingested_at(self) -> dict[str, str]:
        """When each document was last ingested (ISO 8601, UTC)."""
        with connect(self.path) as db:
            return dict(db.execute("SELECT name, ingested_at FROM documents").fetchall())


def _prefix(name: str) -> str:
    """A LIKE pattern for the documents of source ``name``."""
    return name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
