"""Incremental ingestion of a folder into the store, via LangChain's indexing API."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import IO, Any, TypeVar

from langchain_core.documents import Document

from qa_bot.config import IngestSettings
from qa_bot.errors import CorpusError
from qa_bot.ingest.loaders import LoadError, is_supported, load_file, supported_formats
from qa_bot.ingest.split import split_documents
from qa_bot.metrics import INGEST_RUNS
from qa_bot.storage.catalog import UPLOADS, Catalog, Source
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
    ignored: int = 0
    chunks_added: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestReport:
        """A report sent as JSON (``dataclasses.asdict``)."""
        failed = [(name, why) for name, why in data.pop("failed", [])]
        return cls(**data, failed=failed)


@dataclass
class _Discovery:
    files: list[tuple[Path, str]]
    failed: list[tuple[str, str]]
    ignored: int


def _discover(folder: Path) -> _Discovery:
    """List supported files below ``folder`` (hidden ones skipped; links that lead outside the
    folder refused) and unreadable subfolders. Linked folders are never followed."""
    if not folder.is_dir():
        raise CorpusError(f"The folder {folder} does not exist: give the path of your documents.")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise CorpusError(f"The folder {folder} cannot be read: check its permissions.")
    found = _Discovery([], [], 0)
    root_path = folder.resolve()

    def unreadable(err: OSError) -> None:
        rel = Path(err.filename).relative_to(folder).as_posix()
        found.failed.append((rel + "/", "the folder cannot be read (permission denied)"))

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            rel = path.relative_to(folder).as_posix()
            if name.startswith("."):
                continue
            if not is_supported(path):
                found.ignored += 1
            elif problem := _link_problem(path, root_path):
                found.failed.append((rel, problem))
            else:
                found.files.append((path, rel))
    return found


_held = threading.local()  # data dirs whose lock this thread holds (the lock is re-entrant)


def _link_problem(path: Path, root: Path) -> str | None:
    """Why a linked file is not read (a loop, a dead link, or one leading outside the folder);
    None for a plain file or a link within the folder."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve(strict=True)
    except RuntimeError:
        return "it is a link that loops back on itself"
    except OSError:
        return "it is a link to a file that does not exist"
    return None if target.is_relative_to(root) else "it is a link to a file outside the folder"


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
    with open(path, "w") as lock:
        _acquire(lock, wait, waiting)
        held.add(path)
        try:
            yield
        finally:
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
    with open(store.settings.data_path / "ingest.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


@dataclass
class Prepared:
    """One file read and split (or the reason it could not be read)."""

    name: str
    chunks: list[Document]
    problem: str | None = None


def _prepare(
    files: list[tuple[Path, str]], prefix: str, settings: IngestSettings
) -> Iterator[Prepared]:
    """Load and split each file, in order."""
    for path, rel in files:
        name = prefix + rel
        try:
            docs = load_file(path, name, settings)
        except LoadError as err:
            yield Prepared(name, [], str(err))
            continue
        yield Prepared(name, split_documents(docs, settings.chunk_size, settings.chunk_overlap))


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
    """Consecutive files holding about ``size`` chunks in all (a large file goes alone)."""
    group: list[Prepared] = []
    for item in prepared:
        group.append(item)
        if sum(len(g.chunks) for g in group) >= size:
            yield group
            group = []
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
        report.chunks_added += change.added
        report.chunks_deleted += change.deleted
        if change.was_indexed and not change.changed:
            report.unchanged.append(item.name)
            continue
        (report.updated if change.was_indexed else report.added).append(item.name)
        catalog.touch(item.name)


def _index_files(
    store: Store,
    catalog: Catalog,
    files: list[tuple[Path, str]],
    report: IngestReport,
    progress: Progress | None,
) -> None:
    """Load, split and index ``files`` (path, name in the report's source), a group of files
    at a time, telling ``progress`` after each."""
    prefix = f"{report.source}/"
    done = 0
    with closing(ahead(_prepare(files, prefix, store.settings.ingest))) as prepared:
        for group in groups(prepared, GROUP_CHUNKS):
            index_group(store, catalog, group, report)
            for item in group:
                done += 1
                if progress:
                    progress(done, len(files), item.name)


def index_files(
    store: Store,
    source: Source,
    files: list[tuple[Path, str]],
    progress: Progress | None = None,
) -> IngestReport:
    """Index these files of ``source`` alone, each read from its path and named by its name
    in the source (no other file is read again, none is removed); under the ingest lock,
    which the caller may already hold."""
    started = time.perf_counter()
    report = IngestReport(source=source.name)
    with exclusive(store):
        _index_files(store, open_catalog(store), files, report, progress)
        store.sync_lexical()
    report.seconds = time.perf_counter() - started
    return report


def _stale(
    document: str, source: str, sources: set[str], unreadable: tuple[str, ...], shared: bool
) -> bool:
    """Whether an indexed document not found in ``source``'s folder is to be removed: one of
    the source's files (unless it sat in an ``unreadable`` folder), or one of no registered
    source (an index from before sources). In a collection ``shared`` with other replicas,
    whose catalogs and uploads folders are their own, only this source's files, uploads
    excepted (an upload is deleted by name)."""
    if document.startswith(f"{source}/"):
        return not document.startswith(unreadable) and not (shared and source == UPLOADS)
    return not shared and document.split("/", 1)[0] not in sources


def _forget_deleted_uploads(store: Store, catalog: Catalog, folder: Path) -> set[str]:
    """Remove the files of uploads ingested here that another replica has since deleted from
    the shared collection, so this sync does not bring them back; return their names."""
    indexed, ingested = store.documents(), catalog.ingested_at()
    gone = set()
    for path in folder.iterdir():
        name = f"{UPLOADS}/{path.name}"
        if path.is_file() and name in ingested and name not in indexed:
            path.unlink()
            catalog.forget(name)
            gone.add(path.name)
    return gone


def open_catalog(store: Store) -> Catalog:
    """The catalog of the store's data dir."""
    return Catalog(store.settings.data_path / "catalog.sqlite")


def ingest(store: Store, folder: Path, progress: Progress | None = None) -> IngestReport:
    """Add ``folder`` to the knowledge base (if new) and bring its documents in the index in
    line with it; other folders' documents are left alone."""
    if not folder.is_dir():
        raise CorpusError(f"The folder {folder} does not exist: give the path of your documents.")
    catalog = open_catalog(store)
    known = any(s.path == folder.resolve() for s in catalog.sources())
    if not known and not _discover(folder).files:  # never register a folder with nothing in it
        raise CorpusError(
            f"No supported documents in {folder} ({supported_formats()}): "
            "add some or point to another folder."
        )
    taken: set[str] = set()
    if store.settings.store.shared:  # other replicas' sources, as of now
        store.sync_lexical()
        taken = {name.split("/", 1)[0] for name in store.documents()}
    return sync_source(store, catalog, catalog.register(folder, taken=taken), progress)


def sync_source(
    store: Store, catalog: Catalog, source: Source, progress: Progress | None = None
) -> IngestReport:
    """Bring the index in line with one source folder: new and changed files are embedded,
    deleted ones removed, unchanged ones skipped; a file that fails to load keeps its previous
    chunks. Documents of no registered source (an index from before sources) are removed,
    unless the collection is shared with other replicas. A web source is fetched again the
    same way (``websource.sync_web``). Each run is counted (``/metrics``)."""
    try:
        report = _sync(store, catalog, source, progress)
    except BaseException:
        INGEST_RUNS.labels("error").inc()
        raise
    INGEST_RUNS.labels("ok").inc()
    return report


def _sync(
    store: Store, catalog: Catalog, source: Source, progress: Progress | None
) -> IngestReport:
    """``sync_source``'s work: a folder's here, a web source's in ``websource.sync_web``."""
    if source.url is not None:
        from qa_bot.ingest.websource import sync_web

        return sync_web(store, catalog, source, progress)
    assert source.path is not None
    started = time.perf_counter()
    found = _discover(source.path)
    if not found.files and source.name != UPLOADS:
        raise CorpusError(
            f"No supported documents in {source.path} ({supported_formats()}): "
            "add some or point to another folder."
        )
    prefix = f"{source.name}/"
    report = IngestReport(
        source=source.name,
        failed=[(prefix + rel, why) for rel, why in found.failed],
        ignored=found.ignored,
    )
    with exclusive(store):
        store.sync_lexical()  # the document list below comes from it
        if source.name == UPLOADS and store.settings.store.shared:
            gone = _forget_deleted_uploads(store, catalog, source.path)
            found.files = [(path, rel) for path, rel in found.files if rel not in gone]
        _index_files(store, catalog, found.files, report, progress)
        kept = {prefix + rel for _, rel in found.files}
        unreadable = tuple(name for name, _ in report.failed if name.endswith("/"))
        sources = {s.name for s in catalog.sources()}
        for document in sorted(store.documents() - kept):
            if _stale(document, source.name, sources, unreadable, store.settings.store.shared):
                report.chunks_deleted += store.delete_document(document)
                catalog.forget(document)
                report.deleted.append(document)
        store.sync_lexical()
    report.seconds = time.perf_counter() - started
    return report
