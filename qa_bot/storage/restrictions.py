"""Sources visible only to their groups: which groups may read each restricted source, and the
rule that turns a caller's groups into the documents they may read.

A source (a folder, or ``uploads``) with no groups is read by everyone; one restricted to
``hr`` and ``finance`` only by callers in either group (and by admins, who are given ``None``:
every source). The restrictions are kept in the database beside the catalog: a table of
``catalog.sqlite`` in the data dir, or of ``store.database_url`` when set, so every replica of a
shared collection reads the same ones (docs/security.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import Column, MetaData, String, Table, Text, delete, insert, select

from qa_bot.config import Settings
from qa_bot.errors import QaBotError
from qa_bot.storage.database import database_url, engine, reaching

Groups = frozenset[str]
GROUP = re.compile(r"[a-z0-9_-]{1,40}")
"""A group's name: lower-case letters, digits, ``_`` and ``-``, at most 40 characters."""
MAX_GROUPS = 50
"""Most groups one key, one proxy user or one source may have."""

_metadata = MetaData()
_restrictions = Table(
    "source_groups",
    _metadata,
    Column("source", String(400), primary_key=True),
    Column("groups", Text, nullable=False),  # comma-separated, sorted
)


class GroupError(QaBotError):
    """A group name that is not allowed, or too many groups."""


def parse_groups(given: str | Iterable[str]) -> Groups:
    """Group names from ``hr,finance`` (or a list of names); blanks are dropped, so ``''`` is
    no group. A name that breaks the rule is refused with one sentence."""
    names = given.split(",") if isinstance(given, str) else list(given)
    groups = frozenset(name.strip() for name in names if name.strip())
    for name in sorted(groups):
        if not GROUP.fullmatch(name):
            raise GroupError(
                f"'{name[:60]}' is not a group name: use lower-case letters, digits, '_' and "
                "'-', at most 40 characters (e.g. hr,finance)."
            )
    if len(groups) > MAX_GROUPS:
        raise GroupError(f"At most {MAX_GROUPS} groups: name fewer.")
    return groups


def lenient_groups(header: str) -> Groups:
    """The groups a trusted proxy names in a comma-separated header, lower-cased; a name that
    breaks the rule is left out (never widened into another), as are names past
    ``MAX_GROUPS``."""
    names = (name.strip().lower() for name in header.split(","))
    return frozenset(sorted(n for n in names if GROUP.fullmatch(n))[:MAX_GROUPS])


def source_of(document: str) -> str:
    """The source a document belongs to: documents are named ``<source>/<path>``."""
    return document.split("/", 1)[0]


def hidden_sources(restrictions: dict[str, Groups], groups: Groups | None) -> set[str]:
    """The sources a caller in ``groups`` may not read (``None``: an admin, who reads all)."""
    if groups is None:
        return set()
    return {source for source, allowed in restrictions.items() if not allowed & groups}


def readable_documents(
    documents: Iterable[str], restrictions: dict[str, Groups], groups: Groups | None
) -> list[str] | None:
    """The documents a caller in ``groups`` may read, or ``None`` when no source is hidden
    from them (every document, including those indexed after this call). When some source is
    hidden, the answer is the list of the readable documents known now, so a document indexed
    a moment later is left out rather than let in."""
    hidden = hidden_sources(restrictions, groups)
    if not hidden:
        return None
    return sorted(d for d in documents if source_of(d) not in hidden)


class SourceGroups:
    """The groups of each restricted source, in the database (``catalog.sqlite`` in the data dir
    unless ``store.database_url`` names a shared one)."""

    @classmethod
    def beside(cls, settings: Settings) -> SourceGroups:
        """The restrictions the settings name."""
        return cls(database_url(settings, "catalog.sqlite"))

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine(url)
        with reaching(url):
            _metadata.create_all(self.engine)

    def all(self) -> dict[str, Groups]:
        """Every restricted source with its groups (an unrestricted one is absent)."""
        with reaching(self.url), self.engine.connect() as db:
            rows = db.execute(select(_restrictions)).all()
        return {source: frozenset(groups.split(",")) for source, groups in rows}

    def of(self, source: str) -> Groups:
        """The groups of ``source``; empty when everyone reads it."""
        return self.all().get(source, frozenset())

    def set(self, source: str, groups: Groups) -> None:
        """Restrict ``source`` to ``groups``; no groups: everyone reads it again."""
        with reaching(self.url), self.engine.begin() as db:
            db.execute(delete(_restrictions).where(_restrictions.c.source == source))
            if groups:
                row = {"source": source, "groups": ",".join(sorted(groups))}
                db.execute(insert(_restrictions).values(row))
