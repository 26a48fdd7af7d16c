"""The knowledge base: many folders (sources) in one index, each re-synced on its own, plus
uploads kept in a managed folder in the data dir. The CLI, the API and the chat's Documents tab
all go through ``KnowledgeBase``."""

from __future__ import annotations

import shutil
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path, PurePath

from pydantic import BaseModel

from qa_bot.errors import CorpusError, QaBotError
from qa_bot.ingest.index import (
    IngestReport,
    Progress,
    exclusive,
    ingest,
    open_catalog,
    sync_source,
)
from qa_bot.ingest.loaders import is_supported, supported_formats
from qa_bot.storage.catalog import UPLOADS, Source
from qa_bot.storage.store import Store

MAX_NAME_BYTES = 200  # file systems allow 255; room is left for " (2)"


class DocumentInfo(BaseModel):
    """One indexed document, as the Documents tab and ``GET /api/documents`` list it."""

    name: str
    source: str
    title: str
    pages: int | None
    chunks: int
    ingested_at: str | None


class UploadResult(BaseModel):
    """What became of uploaded files: stored under these names, or refused with a reason."""

    stored: list[str]
    failed: dict[str, str]
    chunks_added: int


class UploadError(QaBotError):
    """An upload that is refused (type, size or name); nothing was written."""


def safe_filename(name: str) -> str:
    """The last part of a client-given file name, without path tricks or hidden-file dots,
    at most ``MAX_NAME_BYTES`` long (the extension kept)."""
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise UploadError("The file name holds control characters: rename it and upload it again.")
    base = PurePath(name.replace("\\", "/")).name.strip().lstrip(".")
    if not base or base in {".", ".."}:
        raise UploadError("The file has no usable name: rename it and upload it again.")
    stem, suffix = PurePath(base).stem, PurePath(base).suffix
    while stem and len((stem + suffix).encode()) > MAX_NAME_BYTES:
        stem = stem[:-1]
    if not stem or len(suffix.encode()) > MAX_NAME_BYTES // 2:
        raise UploadError("The file name is too long: rename it and upload it again.")
    return stem + suffix


class KnowledgeBase:
    """Sources and documents of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.catalog = open_catalog(store)

    def sources(self) -> list[Source]:
        """Every source folder, uploads included once something was uploaded."""
        return self.catalog.sources()

    def ingest(self, folder: Path, progress: Progress | None = None) -> IngestReport:
        """Add or re-sync one folder."""
        return ingest(self.store, folder, progress)

    def resync(
        self, name: str | None = None, progress: Progress | None = None
    ) -> list[IngestReport]:
        """Re-sync one source, or all of them: a source whose folder is gone or empty is
        reported as failed (its documents stay) and the others go on."""
        if name:
            return [sync_source(self.store, self.catalog, self._source(name), progress)]
        return [self._sync_or_report(source, progress) for source in self.sources()]

    def _sync_or_report(self, source: Source, progress: Progress | None) -> IngestReport:
        try:
            return sync_source(self.store, self.catalog, source, progress)
        except CorpusError as error:
            return IngestReport(source=source.name, failed=[(f"{source.name}/", str(error))])

    def rebuild(
        self,
        progress: Progress | None = None,
        on_switch: Callable[[Store], None] | None = None,
        drop_after: float = 0.0,
    ) -> list[IngestReport]:
        """Embed every source again into a new collection while the current one keeps
        answering; then switch to it (``self.store`` becomes the new store, ``on_switch`` is
        told) and drop the old one, ``drop_after`` seconds later (questions under way finish
        on it). Other ingestions wait until it is done."""
        if self.store.settings.store.collection:
            raise CorpusError(
                "A rebuild needs collections of its own: unset QA_BOT_STORE__COLLECTION."
            )
        with exclusive(self.store):
            new = self.store.fresh()
            try:
                reports = [KnowledgeBase(new)._sync_or_report(s, progress) for s in self.sources()]
            except BaseException:
                new.drop()
                raise
            new.activate()
            old, self.store = self.store, new
            if on_switch:
                on_switch(new)
        if drop_after:
            threading.Timer(drop_after, old.drop).start()
        else:
            old.drop()
        return reports

    def remove(self, name: str) -> int:
        """Remove a source and its documents from the index (its folder is left alone, except
        the managed uploads folder, whose files are deleted); return chunks removed."""
        source = self._source(name)
        removed = 0
        for document in sorted(self.store.documents()):
            if document.startswith(f"{name}/"):
                removed += self.store.delete_document(document)
        self.catalog.unregister(name)
        managed = (self.store.settings.data_path / UPLOADS).resolve()
        if source.path == managed:  # only ever the managed folder: an operator's stays
            shutil.rmtree(managed, ignore_errors=True)
        return removed

    def documents(self) -> list[DocumentInfo]:
        """Every indexed document with its title, pages, chunks and ingestion time."""
        chunks: dict[str, list[dict[str, object]]] = defaultdict(list)
        for chunk in self.store.chunks():
            chunks[chunk.metadata["source"]].append(chunk.metadata)
        when = self.catalog.ingested_at()
        infos = []
        for name in sorted(chunks):
            metas = chunks[name]
            pages = [int(str(m["page"])) for m in metas if m.get("page") is not None]
            infos.append(
                DocumentInfo(
                    name=name,
                    source=name.split("/", 1)[0],
                    title=str(metas[0].get("title", "")),
                    pages=max(pages) if pages else None,
                    chunks=len(metas),
                    ingested_at=when.get(name),
                )
            )
        return infos

    def uploads_folder(self) -> Path:
        """The managed folder uploads are kept in, registered as the source ``uploads``."""
        folder = self.store.settings.data_path / UPLOADS
        folder.mkdir(exist_ok=True)
        source = self.catalog.register(folder, name=UPLOADS)
        if source.name != UPLOADS:  # an index from before the name was kept for uploads
            raise CorpusError(
                f"The source name '{UPLOADS}' is taken by {self.catalog.source(UPLOADS)}: "
                f"remove it (`qa-bot sources remove {UPLOADS}`) and ingest that folder again."
            )
        return folder

    def check_upload(self, filename: str, size: int) -> str:
        """The name an upload will be stored under; refuses a type or size qa-bot does not
        take before anything is written."""
        name = safe_filename(filename)
        if not is_supported(Path(name)):
            raise UploadError(
                f"{name}: this file type is not supported; upload one of {supported_formats()}."
            )
        limit = self.store.settings.ingest.max_file_mb
        if size > limit * 1024 * 1024:
            raise UploadError(
                f"{name} is {size / 1024 / 1024:.1f} MB, over the {limit:g} MB limit "
                "(QA_BOT_INGEST__MAX_FILE_MB)."
            )
        return name

    def add_uploads(
        self, files: list[tuple[Path, str]], progress: Progress | None = None
    ) -> UploadResult:
        """Store uploaded files (temporary path, client file name) in the uploads folder, each
        beside any file of the same name ("report (2).pdf"), then ingest them. Every file is
        checked before any is written."""
        checked = [(path, self.check_upload(name, path.stat().st_size)) for path, name in files]
        folder = self.uploads_folder()
        if self.store.settings.store.shared:  # other replicas' latest uploads count too
            self.store.sync_lexical()
        indexed = {
            n.split("/", 1)[1] for n in self.store.documents() if n.startswith(f"{UPLOADS}/")
        }
        stored = []
        for path, name in checked:
            target = _beside(folder / name, indexed)
            shutil.copyfile(path, target)
            stored.append(f"{UPLOADS}/{target.name}")
        try:
            report = ingest(self.store, folder, progress)
        except CorpusError:
            for name in stored:  # another ingestion holds the lock: leave nothing behind
                (folder / name.split("/", 1)[1]).unlink(missing_ok=True)
            raise
        failed = {name: why for name, why in report.failed if name in stored}
        for name in failed:  # unreadable (corrupt, binary, a zip bomb): not kept
            (folder / name.split("/", 1)[1]).unlink(missing_ok=True)
        kept = [name for name in stored if name not in failed]
        return UploadResult(stored=kept, failed=failed, chunks_added=report.chunks_added)

    def delete_document(self, name: str) -> int:
        """Delete an uploaded document (its file and its chunks); return chunks removed.
        A folder's documents leave the index when their file is deleted and the folder
        re-synced."""
        source, _, rel = name.partition("/")
        if source != UPLOADS:
            raise CorpusError(
                f"{name} comes from the folder '{source}': delete the file there and resync, "
                "or remove the whole source."
            )
        if name not in self.store.documents():
            raise CorpusError(f"No document called {name}: the list may be out of date.")
        (self.uploads_folder() / rel).unlink(missing_ok=True)
        self.catalog.forget(name)
        return self.store.delete_document(name)

    def _source(self, name: str) -> Source:
        source = self.catalog.source(name)
        if source is None:
            known = ", ".join(s.name for s in self.sources()) or "none yet"
            raise CorpusError(f"No source called '{name}' (sources: {known}).")
        return source


def _beside(path: Path, indexed: set[str]) -> Path:
    """``path``, or the first free "name (n).ext" next to it; names ``indexed`` (uploads
    another replica received, in a shared collection) are not free either."""
    n = 2
    candidate = path
    while candidate.exists() or candidate.name in indexed:
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        n += 1
    return candidate
