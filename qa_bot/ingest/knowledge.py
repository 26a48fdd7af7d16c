"""The knowledge base: many folders and web addresses (sources) in one index, each re-synced on
its own, plus uploads kept in a managed folder in the data dir. The CLI, the API and the chat's
Documents tab all go through ``KnowledgeBase``."""

from __future__ import annotations

import shutil
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path, PurePath

from pydantic import BaseModel

from qa_bot.errors import CorpusError, QaBotError
from qa_bot.ingest.batch import IngestReport, Progress, cancel, exclusive, open_catalog
from qa_bot.ingest.index import index_files, ingest, ingest_url, sync_source
from qa_bot.ingest.loaders import is_supported, supported_formats
from qa_bot.storage.catalog import UPLOADS, Source
from qa_bot.storage.digest import sha256
from qa_bot.storage.restrictions import Groups, SourceGroups, source_of
from qa_bot.storage.store import Store

MAX_NAME_BYTES = 200  # file systems allow 255; room is left for " (2)"
BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Characters that reorder how a name is shown ("report\u202etxt.exe" reads "reportexe.txt")."""
UPLOAD_WAIT = 600.0
"""Seconds an upload waits for another ingestion to finish before it is refused."""
INCOMING = ".incoming"
"""Where, in the uploads folder, an upload waits until it is indexed (hidden: never synced)."""


class DocumentInfo(BaseModel):
    """One indexed document, as the Documents tab and ``GET /api/documents`` list it."""

    name: str
    source: str
    title: str
    pages: int | None
    chunks: int
    ingested_at: str | None


class UploadResult(BaseModel):
    """What became of uploaded files: stored under these names (some read only in part, with
    the reason), or refused with a reason."""

    stored: list[str]
    failed: dict[str, str]
    cut: dict[str, str] = {}
    chunks_added: int


class UploadError(QaBotError):
    """An upload that is refused (type, size or name); nothing was written."""


def safe_filename(name: str) -> str:
    """The last part of a client-given file name, without path tricks or hidden-file dots,
    at most ``MAX_NAME_BYTES`` long (the extension kept)."""
    if any(unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS for ch in name):
        raise UploadError(
            "The file name holds control or text-direction characters: rename it and upload "
            "it again."
        )
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
        self.restrictions = SourceGroups.beside(store.settings)

    def sources(self) -> list[Source]:
        """Every source folder and web source, uploads included once something was uploaded,
        with the groups it is restricted to."""
        restricted = self.restrictions.all()
        return [
            source.model_copy(update={"groups": sorted(restricted.get(source.name, ()))})
            for source in self.catalog.sources()
        ]

    def restrict(self, name: str, groups: Groups) -> list[str]:
        """Let only ``groups`` (and admins) read source ``name``; no groups: everyone again.
        The name is a source of this catalog, of the index (another replica's, in a shared
        collection) or one restricted already; returns the groups now set."""
        known = {s.name for s in self.catalog.sources()} | set(self.restrictions.all())
        if name not in known and name not in {source_of(d) for d in self.store.documents()}:
            self.store.follow(now=True)  # another replica may have indexed it a moment ago
            if name not in {source_of(d) for d in self.store.documents()}:
                self._source(name)  # the sentence naming the sources there are
        self.restrictions.set(name, groups)
        return sorted(groups)

    def ingest(self, folder: Path, progress: Progress | None = None) -> IngestReport:
        """Add or re-sync one folder."""
        return ingest(self.store, folder, progress)

    def ingest_url(self, url: str, progress: Progress | None = None) -> IngestReport:
        """Add or re-sync the web source of the pages under ``url``, within ``web.*``."""
        return ingest_url(self.store, url, progress)

    def cancel(self) -> str:
        """Ask the running ingestion (in any process on this data dir) to stop after the file
        or page it is reading; the sentence saying so (``batch.cancel``)."""
        return cancel(self.store.settings.data_path)

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
        the managed uploads folder, whose files are deleted; a web source's page records go
        too); return chunks removed. Its groups stay: a source ingested again under its name
        is restricted as it was."""
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

    def documents(self, readable: list[str] | None = None) -> list[DocumentInfo]:
        """Every indexed document with its title, pages, chunks and ingestion time; only those
        ``readable`` names when given (``QaChain.readable``: a caller's)."""
        chunks: dict[str, list[dict[str, object]]] = defaultdict(list)
        wanted = None if readable is None else set(readable)
        for chunk in self.store.chunks():
            if wanted is None or chunk.metadata["source"] in wanted:
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
        """Store uploaded files (temporary path, client file name) in the uploads folder and
        index them, and only them. Every file is checked before any is written; a file whose
        content is already uploaded replaces that upload, any other is stored beside a file of
        the same name ("report (2).pdf"). Another ingestion is waited for (``progress`` is told).
        A file is in the folder only once it is indexed, so a refused or crashed upload leaves
        neither a file nor a document."""
        checked = [(path, self.check_upload(name, path.stat().st_size)) for path, name in files]
        with exclusive(self.store, wait=UPLOAD_WAIT, waiting=_waiting(progress, len(checked))):
            folder = self.uploads_folder()
            incoming = folder / INCOMING
            shutil.rmtree(incoming, ignore_errors=True)  # a crashed upload's copies
            incoming.mkdir()
            staged = self._stage(checked, folder, incoming, self._uploaded_names(folder))
            try:
                report = index_files(self.store, self._source(UPLOADS), staged, progress)
            except BaseException:
                self._unindex(staged, folder)
                raise
            failed = dict(report.failed)
            for temp, name in staged:
                if f"{UPLOADS}/{name}" not in failed:
                    temp.replace(folder / name)
            shutil.rmtree(incoming, ignore_errors=True)
        kept = [f"{UPLOADS}/{name}" for _, name in staged if f"{UPLOADS}/{name}" not in failed]
        return UploadResult(
            stored=kept, failed=failed, cut=dict(report.cut), chunks_added=report.chunks_added
        )

    def _uploaded_names(self, folder: Path) -> set[str]:
        """The names taken in the uploads source. An indexed upload without its file is what
        a crash during its ingestion left: removed from the index (unless the collection is
        shared, where other replicas' uploads are not in this folder)."""
        if self.store.settings.store.shared:  # other replicas' latest uploads count too
            self.store.sync_lexical()
        indexed = {
            n.split("/", 1)[1] for n in self.store.documents() if n.startswith(f"{UPLOADS}/")
        }
        if self.store.settings.store.shared:
            return indexed
        on_disk = {path.name for path in folder.iterdir() if path.is_file()}
        for name in sorted(indexed - on_disk):
            self.store.delete_document(f"{UPLOADS}/{name}")
            self.catalog.forget(f"{UPLOADS}/{name}")
        return indexed & on_disk

    def _stage(
        self, checked: list[tuple[Path, str]], folder: Path, incoming: Path, taken: set[str]
    ) -> list[tuple[Path, str]]:
        """Copy each upload into ``incoming`` under the name it will have: that of an upload
        with the same content, else its own or the first free "name (n).ext"."""
        sizes = {path.stat().st_size for path, _ in checked}  # only these can be the same
        digests = {
            sha256(path): path.name
            for path in folder.iterdir()
            if path.is_file() and path.stat().st_size in sizes
        }
        staged = []
        for path, name in checked:
            digest = sha256(path)
            if digest in digests and (incoming / digests[digest]).exists():
                continue  # the same file twice in one upload
            target = digests.get(digest) or _beside(folder / name, taken).name
            taken.add(target)
            digests[digest] = target
            shutil.copyfile(path, incoming / target)
            staged.append((incoming / target, target))
        return staged

    def _unindex(self, staged: list[tuple[Path, str]], folder: Path) -> None:
        """Undo an upload that failed part-way: its copies and its new documents go."""
        for temp, name in staged:
            temp.unlink(missing_ok=True)
            if not (folder / name).exists():
                self.store.delete_document(f"{UPLOADS}/{name}")

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


def _waiting(progress: Progress | None, files: int) -> Callable[[float], None] | None:
    """Tells ``progress`` how long an upload has waited for another ingestion."""
    if progress is None:
        return None
    return lambda waited: progress(
        0, files, f"waiting for another ingestion to finish ({waited:.0f} s)"
    )


def _beside(path: Path, indexed: set[str]) -> Path:
    """``path``, or the first free "name (n).ext" next to it; names ``indexed`` (uploads
    another replica received, in a shared collection) are not free either."""
    n = 2
    candidate = path
    while candidate.exists() or candidate.name in indexed:
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        n += 1
    return candidate
