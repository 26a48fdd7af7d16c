"""The knowledge base's catalog: the folders and web addresses (sources) it holds, when each
document was last ingested, and what each web page answered last (for incremental re-syncs), in
``catalog.sqlite`` in the data dir."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from qa_bot.storage.sqlite import connect

UPLOADS = "uploads"
"""The source that holds files added through the chat or the API (a folder in the data dir)."""

_SCHEMA = (
    # path: the folder, or a web source's address (http:// or https://; a folder is absolute)
    "CREATE TABLE IF NOT EXISTS sources (name TEXT PRIMARY KEY, path TEXT UNIQUE NOT NULL)",
    "CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, ingested_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS web_pages (url TEXT NOT NULL, source TEXT NOT NULL, "
    "document TEXT NOT NULL, etag TEXT, last_modified TEXT, digest TEXT NOT NULL, "
    "links TEXT NOT NULL, depth INTEGER NOT NULL, PRIMARY KEY (source, url))",
)
WEB_SCHEMES = ("http://", "https://")


class Source(BaseModel):
    """A folder in the knowledge base, whose documents are named ``<name>/<path in folder>``;
    or a web source (``url``, the address its pages lie under), whose pages are named
    ``<name>/<address after url>``. ``groups``: who may read it beside admins (empty:
    everyone), kept in ``restrictions.py``'s table."""

    name: str
    path: Path | None = None
    url: str | None = None
    groups: list[str] = Field(default_factory=list)


class WebPage(BaseModel):
    """What a page of a web source answered when it was last fetched: its validators (ETag,
    Last-Modified), the SHA-256 of its body, the links on it within the source and its depth
    (links followed from the source's address)."""

    url: str
    source: str
    document: str
    etag: str | None = None
    last_modified: str | None = None
    digest: str
    links: list[str]
    depth: int


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
        return [
            Source(name=name, url=path)
            if path.startswith(WEB_SCHEMES)
            else Source(name=name, path=Path(path))
            for name, path in rows
        ]

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
        unique = self._unique(name or _slug(folder.name), known, taken, name == UPLOADS)
        with connect(self.path) as db:
            db.execute("INSERT INTO sources VALUES (?, ?)", (unique, str(folder)))
        return Source(name=unique, path=folder)

    def web_source(self, url: str, taken: set[str] | None = None) -> Source:
        """The web source for ``url`` (checked and normalized by the caller): the registered
        one, or a new one under a unique name made of its host and path, not registered until
        ``add`` (with its first indexed page)."""
        known = self.sources()
        for source in known:
            if source.url == url:
                return source
        host_path = url.split("://", 1)[1].rstrip("/")
        return Source(name=self._unique(_slug(host_path), known, taken, False), url=url)

    def add(self, source: Source) -> None:
        """Register web source ``source`` (from ``web_source``), unless it is already."""
        with connect(self.path) as db:
            db.execute("INSERT OR IGNORE INTO sources VALUES (?, ?)", (source.name, source.url))

    @staticmethod
    def _unique(base: str, known: list[Source], taken: set[str] | None, uploads: bool) -> str:
        """``base``, or ``base-2``, ``base-3``…: a name no source (nor ``taken``) has; the name
        ``uploads`` only for the uploads folder."""
        used = (taken or set()) | {s.name for s in known}
        used |= set() if uploads else {UPLOADS}
        unique, n = base, 2
        while unique in used:
            unique, n = f"{base}-{n}", n + 1
        return unique

    def unregister(self, name: str) -> None:
        """Forget a source (its documents are removed from the index by the caller)."""
        with connect(self.path) as db:
            db.execute("DELETE FROM sources WHERE name = ?", (name,))
            db.execute("DELETE FROM documents WHERE name LIKE ? ESCAPE '\\'", (_prefix(name),))
            db.execute("DELETE FROM web_pages WHERE source = ?", (name,))

    def web_pages(self, source: str) -> dict[str, WebPage]:
        """What each page of web source ``source`` answered last, by address."""
        with connect(self.path) as db:
            rows = db.execute(
                "SELECT url, document, etag, last_modified, digest, links, depth FROM web_pages "
                "WHERE source = ?",
                (source,),
            ).fetchall()
        return {
            url: WebPage(
                url=url,
                source=source,
                document=document,
                etag=etag,
                last_modified=modified,
                digest=digest,
                links=json.loads(links),
                depth=depth,
            )
            for url, document, etag, modified, digest, links, depth in rows
        }

    def keep_page(self, page: WebPage) -> None:
        """Record what a web page answered."""
        with connect(self.path) as db:
            db.execute(
                "INSERT OR REPLACE INTO web_pages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    page.url,
                    page.source,
                    page.document,
                    page.etag,
                    page.last_modified,
                    page.digest,
                    json.dumps(page.links),
                    page.depth,
                ),
            )

    def forget_page(self, source: str, url: str) -> None:
        """Drop the record of a page that is gone."""
        with connect(self.path) as db:
            db.execute("DELETE FROM web_pages WHERE source = ? AND url = ?", (source, url))

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
