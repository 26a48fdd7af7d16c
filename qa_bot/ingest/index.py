"""Incremental ingestion of a folder into the store, via LangChain's indexing API."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.indexing import index

from qa_bot.errors import CorpusError
from qa_bot.ingest.loaders import LoadError, is_supported, load_file
from qa_bot.ingest.split import split_documents
from qa_bot.store import Store
from qa_bot.text import chunk_sentences

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
    settings = store.settings
    chunks = split_documents(docs, settings.chunk_size, settings.chunk_overlap)
    was_indexed = bool(store.records.list_keys(group_ids=[source], limit=1))
    result = index(
        chunks,
        store.records,
        store.vectorstore,
        cleanup="scoped_full",
        source_id_key="source",
        key_encoder="sha256",
        batch_size=256,
    )
    report.chunks_added += result["num_added"]
    report.chunks_deleted += result["num_deleted"]
    if was_indexed and not (result["num_added"] or result["num_deleted"]):
        report.unchanged.append(source)
        return
    (report.updated if was_indexed else report.added).append(source)
    _index_beside_chroma(store, source)


def _index_beside_chroma(store: Store, source: str) -> None:
    """Mirror a changed source's chunks into the BM25 index and embed their sentences once
    (cached on disk, so the reranker and answerer never re-embed them)."""
    chunks = store.chunks(source)
    store.lexical.replace(source, chunks)
    store.sentence_embeddings.embed_documents(
        [s.text for chunk in chunks for s in chunk_sentences(chunk)]
    )


def ingest(store: Store, folder: Path, progress: Progress | None = None) -> IngestReport:
    """Bring the index in line with ``folder``: new and changed files are embedded, deleted ones
    removed, unchanged ones skipped. A file that fails to load keeps its previous chunks.
    """
    started = time.perf_counter()
    found = _discover(folder)
    if not found.files:
        raise CorpusError(
            f"No supported documents in {folder} (.txt, .md, .html, .pdf, .docx): "
            "add some or point to another folder."
        )
    report = IngestReport(failed=list(found.failed), ignored=found.ignored)
    with _exclusive(store):
        for done, (path, source) in enumerate(found.files, 1):
            _ingest_file(store, path, source, report)
            if progress:
                progress(done, len(found.files), source)
        kept = {source for _, source in found.files}
        unreadable = tuple(source for source, _ in found.failed if source.endswith("/"))
        for source in sorted(store.sources() - kept):
            if not source.startswith(unreadable):
                report.chunks_deleted += store.delete_source(source)
                report.deleted.append(source)
        store.sync_lexical()
    report.seconds = time.perf_counter() - started
    return report
