"""Incremental ingestion of a folder into the store, via LangChain's indexing API."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qa_bot.errors import CorpusError
from qa_bot.ingest.loaders import LoadError, is_supported, load_file, supported_formats
from qa_bot.ingest.split import split_documents
from qa_bot.storage.store import Store

Progress = Callable[[int, int, str], None]
"""Called after each file with (files done, files in all, source just processed)."""


@dataclass
class IngestReport:
    """What one ingestion changed, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0
    chunks_added: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0


@dataclass
class _Discovery:
    files: list[tuple[Path, str]]
    failed: list[tuple[str, str]]
    ignored: int


def _discover(folder: Path) -> _Discovery:
    """List supported files below ``folder`` (hidden ones skipped) and unreadable subfolders."""
    if not folder.is_dir():
        raise CorpusError(f"The folder {folder} does not exist: give the path of your documents.")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise CorpusError(f"The folder {folder} cannot be read: check its permissions.")
    found = _Discovery([], [], 0)

    def unreadable(err: OSError) -> None:
        rel = Path(err.filename).relative_to(folder).as_posix()
        found.failed.append((rel + "/", "the folder cannot be read (permission denied)"))

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            if name.startswith("."):
                continue
            if is_supported(path):
                found.files.append((path, path.relative_to(folder).as_posix()))
            else:
                found.ignored += 1
    return found


@contextmanager
def _exclusive(store: Store) -> Iterator[None]:
    """Hold the data dir's ingest lock, or fail at once if another ingestion holds it."""
    with open(store.settings.data_path / "ingest.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise CorpusError(
                "Another ingestion is running on this index: wait for it to finish."
            ) from err
        yield


def _ingest_file(store: Store, path: Path, source: str, report: IngestReport) -> None:
    """Load, split and index one file, recording what changed in ``report``."""
    try:
        docs = load_file(path, source)
    except LoadError as err:
        report.failed.append((source, str(err)))
        return
    settings = store.settings.ingest
    chunks = split_documents(docs, settings.chunk_size, settings.chunk_overlap)
    change = store.index_document(source, chunks)
    report.chunks_added += change.added
    report.chunks_deleted += change.deleted
    if change.was_indexed and not change.changed:
        report.unchanged.append(source)
    else:
        (report.updated if change.was_indexed else report.added).append(source)


def ingest(store: Store, folder: Path, progress: Progress | None = None) -> IngestReport:
    """Bring the index in line with ``folder``: new and changed files are embedded, deleted ones
    removed, unchanged ones skipped. A file that fails to load keeps its previous chunks.
    """
    started = time.perf_counter()
    found = _discover(folder)
    if not found.files:
        raise CorpusError(
            f"No supported documents in {folder} ({supported_formats()}): "
            "add some or point to another folder."
        )
    report = IngestReport(failed=list(found.failed), ignored=found.ignored)
    with _exclusive(store):
        store.sync_lexical()  # the document list below comes from it
        for done, (path, source) in enumerate(found.files, 1):
            _ingest_file(store, path, source, report)
            if progress:
                progress(done, len(found.files), source)
        kept = {source for _, source in found.files}
        unreadable = tuple(source for source, _ in found.failed if source.endswith("/"))
        for source in sorted(store.documents() - kept):
            if not source.startswith(unreadable):
                report.chunks_deleted += store.delete_document(source)
                report.deleted.append(source)
        store.sync_lexical()
    report.seconds = time.perf_counter() - started
    return report
