"""The database for what qa-bot keeps beside the index (ingestion records, feedback): SQLite
files in the data dir by default, or the one SQLAlchemy URL every replica shares
(``store.database_url``, e.g. PostgreSQL)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError

from qa_bot.config import Settings
from qa_bot.errors import StoreUnavailableError


def database_url(settings: Settings, file: str) -> str:
    """The configured URL, else the SQLite file ``file`` in the data dir."""
    if settings.store.database_url is not None:
        return settings.store.database_url.get_secret_value()
    return f"sqlite:///{settings.data_path / file}"


@functools.cache
def engine(url: str) -> Engine:
    """One pooled engine per URL and process; connections are checked before use, so a
    database that restarted is reconnected to."""
    options = {"timeout": 30} if url.startswith("sqlite") else {"connect_timeout": 5}
    made = create_engine(url, pool_pre_ping=True, connect_args=options)
    if url.startswith("sqlite"):
        event.listen(made, "connect", _secure_delete)
    return made


def _secure_delete(connection: Any, _record: Any) -> None:
    """SQLite overwrites what it deletes (expired questions, removed records) with zeros,
    instead of leaving it in the file's free pages until they are reused; some builds do by
    default, not all."""
    connection.execute("PRAGMA secure_delete = ON")


def unreachable(url: str) -> StoreUnavailableError:
    """The plain sentence for a database that cannot be reached (its password hidden)."""
    shown = make_url(url).render_as_string(hide_password=True)
    return StoreUnavailableError(
        f"Cannot reach the database at {shown}: start it, or fix QA_BOT_STORE__DATABASE_URL."
    )


@contextmanager
def reaching(url: str) -> Iterator[None]:
    """A database that cannot be reached, inside the block, becomes one plain sentence."""
    try:
        yield
    except OperationalError as err:
        raise unreachable(url) from err
