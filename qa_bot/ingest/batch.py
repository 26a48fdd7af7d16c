"""What every ingestion shares, folder or web source: the data dir's ingest lock (and the
request to cancel the ingestion holding it), the limits a source is read within, the report,
and files or pages read ahead of the model and indexed a group at a time. Below the indexers
(``index.py``, ``websource.py``), above what the workers run (``workers.py``)."""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import IO, Any, TypeVar

from langchain_core.documents import Document

from qa_bot.errors import CorpusError, IngestCancelled
from qa_bot.ingest.workers import Limits, Stopped
from qa_bot.storage.catalog import Catalog
from qa_bot.storage.store import Store

Progress = Callable[[int, int, str], None]
"""Called after each file with (files done, files in all, source just processed)."""

GROUP_CHUNKS = 256
"""Chunks indexed (and embedded) together: enough for length-sorted batches across files,
few enough for the progress bar to move every few seconds."""

T = TypeVar("T")


@dataclass
class IngestReport:
    """What one ingestion of one source changed, file by file."""

    source: str = ""
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    cut: list[tuple[str, str]] = field(default_factory=list)
    """Files indexed only in part (a spreadsheet past ``ingest.max_rows``…), and why."""
    ignored: int = 0
    chunks_added: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestReport:
        """A report sent as JSON (``dataclasses.asdict``)."""
        failed = [(name, why) for name, why in data.pop("failed", [])]
        cut = [(name, why) for name, why in data.pop("cut", [])]
        return cls(**data, failed=failed, cut=cut)


_held = threading.local()  # data dirs whose lock this thread holds (the lock is re-entrant)
CANCEL = "ingest.cancel"
"""The file in the data dir that asks the ingestion holding the lock to stop (any process may
write it: ``cancel``); removed when an ingestion takes the lock and when it lets go."""


@contextmanager
def exclusive(
    store: Store, wait: float = 0, waiting: Callable[[float], None] | None = None
) -> Iterator[None]:
    """Hold the data dir's ingest lock. Another ingestion holding it is waited for up to
    ``wait`` seconds (``waiting`` is told the seconds waited so far, about once a second),
    then it is an error."""
    path = store.settings.data_path / "ingest.lock"
    held: set[Path] = _held.__dict__.setdefault("paths", set())
    if path in held:
        yield
        return
    marker = store.settings.data_path / CANCEL
    with open(path, "w") as lock:
        _acquire(lock, wait, waiting)
        held.add(path)
        marker.unlink(missing_ok=True)  # a request to cancel an ingestion that has ended
        try:
            yield
        finally:
            marker.unlink(missing_ok=True)
            held.discard(path)


def _acquire(lock: IO[str], wait: float, waiting: Callable[[float], None] | None) -> None:
    started = time.monotonic()
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError as err:
            waited = time.monotonic() - started
            if waited >= wait:
                raise CorpusError(
                    "Another ingestion is running on this index: wait for it to finish."
                    if not wait
                    else f"Another ingestion has held this index for over {wait / 60:g} "
                    "minutes: try again when it has finished."
                ) from err
            if waiting:
                waiting(waited)
            time.sleep(1.0)


def is_ingesting(store: Store) -> bool:
    """True while an ingestion holds the data dir's lock."""
    return _locked(store.settings.data_path)


def _locked(data: Path) -> bool:
    """True while an ingestion holds the lock of the data dir ``data``."""
    with open(data / "ingest.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def cancel(data: Path) -> str:
    """Ask the ingestion running on the data dir ``data`` (in this process or another: a
    folder, web source, upload or rebuild) to stop after the file or page it is reading; the
    sentence saying so. None running is a CorpusError."""
    if not _locked(data):
        raise CorpusError("No ingestion is running on this index: there is nothing to cancel.")
    (data / CANCEL).touch()
    return (
        "Cancelling the running ingestion: it stops after the file or page it is reading, and "
        "what it indexed stays."
    )


def limits(store: Store) -> Limits:
    """The limits one source of ``store`` is read within, from now; stopped by ``cancel``."""
    return Limits.of(store.settings.ingest, (store.settings.data_path / CANCEL).exists)


def stopped_early(report: IngestReport, stop: Stopped) -> None:
    """What an ingestion told to stop leaves (its deletions skipped: not everything was read):
    out of time, a line in ``report``; cancelled, an IngestCancelled saying how far it got."""
    if stop.overtime:
        report.failed.append((f"{report.source}/", str(stop)))
        return
    done = len(report.added) + len(report.updated) + len(report.unchanged)
    raise IngestCancelled(
        f"Stopped ingesting {report.source} because {stop}, after {done} documents (those are "
        "indexed; the rest keep what was indexed before)."
    )


@dataclass
class Prepared:
    """One file read and split (or the reason it could not be read, or why it was read only
    in part)."""

    name: str
    chunks: list[Document]
    problem: str | None = None
    cut: str | None = None


def ahead(items: Iterator[T], depth: int = 16) -> Generator[T, None, None]:
    """``items``, produced by a background thread up to ``depth`` ahead of the reader, so
    reading and splitting files overlaps embedding (the model leaves CPU time unused). The
    thread stops when the reader does, even part-way."""
    queue: Queue[tuple[T | None, BaseException | None, bool]] = Queue(depth)
    stop = threading.Event()

    def put(entry: tuple[T | None, BaseException | None, bool]) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.2)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None, False)):
                    return
        except BaseException as err:  # handed to the reader, raised there
            put((None, err, True))
        else:
            put((None, None, True))

    threading.Thread(target=produce, daemon=True, name="ingest-reader").start()
    try:
        while True:
            item, error, done = queue.get()
            if error:
                raise error
            if done:
                return
            yield item  # type: ignore[misc]  # not None before done
    finally:
        stop.set()


def groups(prepared: Iterator[Prepared], size: int) -> Iterator[list[Prepared]]:
    """Consecutive files holding about ``size`` chunks in all (a large file goes alone); when
    reading is stopped, the files read so far, then Stopped."""
    group: list[Prepared] = []
    try:
        for item in prepared:
            group.append(item)
            if sum(len(g.chunks) for g in group) >= size:
                yield group
                group = []
    except Stopped:
        if group:
            yield group
        raise
    if group:
        yield group


def index_group(
    store: Store, catalog: Catalog, group: list[Prepared], report: IngestReport
) -> None:
    """Index a group of files in one pass and record what changed for each; a file that
    failed to load keeps its previous chunks."""
    readable = {item.name: item.chunks for item in group if item.problem is None}
    changes = store.index_documents(readable)
    for item in group:
        if item.problem is not None:
            report.failed.append((item.name, item.problem))
            continue
        change = changes[item.name]
        if item.cut is not None:
            report.cut.append((item.name, item.cut))
        report.chunks_added += change.added
        report.chunks_deleted += change.deleted
        if change.was_indexed and not change.changed:
            report.unchanged.append(item.name)
            continue
        (report.updated if change.was_indexed else report.added).append(item.name)
        catalog.touch(item.name)


def open_catalog(store: Store) -> Catalog:
    """The catalog of the store's data dir."""
    return Catalog(store.settings.data_path / "catalog.sqlite")
