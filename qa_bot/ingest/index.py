"""Incremental ingestion of a folder into the store, via LangChain's indexing API; web
sources through ``websource.py``. Files are read in worker processes (``workers.py``); this
process embeds and indexes what they return."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

from qa_bot.config import IngestSettings
from qa_bot.errors import CorpusError
from qa_bot.ingest.batch import (
    GROUP_CHUNKS,
    IngestReport,
    Prepared,
    Progress,
    ahead,
    exclusive,
    groups,
    index_group,
    limits,
    open_catalog,
    stopped_early,
)
from qa_bot.ingest.loaders import LoadError, is_supported, load_chunks, supported_formats
from qa_bot.ingest.ocr import read_seconds
from qa_bot.ingest.web import WebError, check_url
from qa_bot.ingest.websource import sync_web
from qa_bot.ingest.workers import Limits, ReadFailed, Stopped, run
from qa_bot.metrics import INGEST_RUNS
from qa_bot.registry import LOADERS
from qa_bot.storage.catalog import UPLOADS, Catalog, Source
from qa_bot.storage.store import Store


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


def _prepare(
    files: list[tuple[Path, str]], prefix: str, settings: IngestSettings, limits: Limits
) -> Iterator[Prepared]:
    """Read and split each file in a worker, in order (Stopped when told to stop)."""
    for path, rel in files:
        name = prefix + rel
        loader = LOADERS.get(path.suffix.lower())
        try:
            seconds = read_seconds(path.suffix.lower(), settings)
            loaded = run(
                replace(limits, seconds=seconds), load_chunks, path, name, settings, loader
            )
        except (LoadError, ReadFailed) as err:
            yield Prepared(name, [], str(err))
            continue
        except Stopped:
            raise
        except Exception as err:  # a reader's own bug, met on this file: this file only
            why = f"its reader failed on it ({type(err).__name__}): report it, with the file"
            yield Prepared(name, [], why)
            continue
        yield Prepared(name, loaded.documents, cut=loaded.cut)


def _index_files(
    store: Store,
    catalog: Catalog,
    files: list[tuple[Path, str]],
    report: IngestReport,
    progress: Progress | None,
) -> None:
    """Read, split and index ``files`` (path, name in the report's source), a group of files
    at a time, telling ``progress`` after each; Stopped once what was read is indexed."""
    prefix = f"{report.source}/"
    done = 0
    reading = _prepare(files, prefix, store.settings.ingest, limits(store))
    with closing(ahead(reading)) as prepared:
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
        try:
            _index_files(store, open_catalog(store), files, report, progress)
        except Stopped as stop:
            stopped_early(report, stop)
        finally:
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
        try:
            _index_files(store, catalog, found.files, report, progress)
        except Stopped as stop:  # not every file was read: none is taken for deleted
            stopped_early(report, stop)
        else:
            _remove_stale(store, catalog, source, found, report)
        finally:
            store.sync_lexical()
    report.seconds = time.perf_counter() - started
    return report


def _remove_stale(
    store: Store, catalog: Catalog, source: Source, found: _Discovery, report: IngestReport
) -> None:
    """Remove the documents of files no longer in ``source``'s folder (``_stale``)."""
    kept = {f"{source.name}/{rel}" for _, rel in found.files}
    unreadable = tuple(name for name, _ in report.failed if name.endswith("/"))
    sources = {s.name for s in catalog.sources()}
    for document in sorted(store.documents() - kept):
        if _stale(document, source.name, sources, unreadable, store.settings.store.shared):
            report.chunks_deleted += store.delete_document(document)
            catalog.forget(document)
            report.deleted.append(document)


def ingest_url(store: Store, url: str, progress: Progress | None = None) -> IngestReport:
    """Add the web source of the pages under ``url`` (if new) and bring it up to date. A new
    source is registered with its first indexed page, so one from which no page was indexed
    (refused, failed, or its process killed) is not kept: its first refusal is the error."""
    target = check_url(url, store.settings.web)
    catalog = open_catalog(store)
    with exclusive(store):  # a new source's name stays its own until it is registered
        known = any(s.url == target for s in catalog.sources())
        taken: set[str] = set()
        if store.settings.store.shared:  # other replicas' sources, as of now
            store.sync_lexical()
            taken = {name.split("/", 1)[0] for name in store.documents()}
        report = sync_source(store, catalog, catalog.web_source(target, taken), progress)
    if not known and not (report.added or report.updated or report.unchanged):
        why = report.failed[0][1] if report.failed else "no page under it could be read"
        raise WebError(target, why)
    return report
