"""The knowledge base over HTTP: the documents a caller may read (listed for readers too); for
admins, uploads and deletes, sources (list, restrict to groups, resync, remove), cancelling
the running ingestion, and the feedback users left."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from qa_bot.errors import QaBotError
from qa_bot.ingest.batch import IngestReport, Progress
from qa_bot.ingest.knowledge import DocumentInfo, KnowledgeBase, UploadError, UploadResult
from qa_bot.ingest.web import check_url
from qa_bot.server.access import readable_groups
from qa_bot.server.deps import ApiError, Caller, Chain, get_feedback
from qa_bot.storage.catalog import Source
from qa_bot.storage.feedback import Feedback, FeedbackStore
from qa_bot.storage.restrictions import MAX_GROUPS, parse_groups

router = APIRouter()
MAX_FILES = 20


def get_knowledge(chain: Chain) -> KnowledgeBase:
    """The knowledge base of the app's store."""
    return KnowledgeBase(chain.store)


Knowledge = Annotated[KnowledgeBase, Depends(get_knowledge)]


@router.get("/api/documents", response_model=list[DocumentInfo])
def list_documents(knowledge: Knowledge, chain: Chain, caller: Caller) -> list[DocumentInfo]:
    """Every indexed document the caller may read: name, source, title, pages, chunks, when it
    was ingested."""
    return knowledge.documents(chain.readable(readable_groups(caller)))


@router.post("/api/documents", response_model=UploadResult)
def upload_documents(files: list[UploadFile], knowledge: Knowledge) -> UploadResult:
    """Add files to the uploads source (stored beside any of the same name) and ingest them."""
    if len(files) > MAX_FILES:
        raise UploadError(f"At most {MAX_FILES} files at a time: upload the rest afterwards.")
    for upload in files:  # every file is checked before any is written
        knowledge.check_upload(upload.filename or "", upload.size or 0)
    with tempfile.TemporaryDirectory() as tmp:
        staged = []
        for n, upload in enumerate(files):
            path = Path(tmp) / str(n)
            path.write_bytes(upload.file.read())
            staged.append((path, upload.filename or ""))
        return knowledge.add_uploads(staged)


@router.delete("/api/documents/{name:path}")
def delete_document(name: str, knowledge: Knowledge) -> dict[str, int]:
    """Delete an uploaded document and its chunks."""
    return {"chunks_removed": knowledge.delete_document(name)}


@router.get("/api/knowledge", response_model=list[Source])
def list_sources(knowledge: Knowledge) -> list[Source]:
    """The folders and web sources in the knowledge base."""
    return knowledge.sources()


@router.post("/api/knowledge/resync")
def resync(knowledge: Knowledge, name: str | None = None) -> StreamingResponse:
    """Re-sync one source (``?name=``) or all of them (a vanished folder is reported and the
    others go on); streams progress, then the reports, as JSON lines."""
    work = functools.partial(knowledge.resync, name)
    return StreamingResponse(_streamed(work), media_type="application/x-ndjson")


@router.post("/api/knowledge/cancel")
def cancel_ingestion(knowledge: Knowledge) -> dict[str, str]:
    """Stop the running ingestion after the file or page it is reading (a worker stuck in one
    is killed); what it indexed stays. 409 when none runs."""
    return {"message": knowledge.cancel()}


class GroupsRequest(BaseModel):
    """The groups that may read a source (beside admins); none: everyone."""

    groups: list[str] = Field(max_length=MAX_GROUPS)


class SourceGroupsReply(BaseModel):
    """A source and the groups that may now read it (empty: everyone)."""

    source: str
    groups: list[str]


@router.put("/api/knowledge/{name}/groups", response_model=SourceGroupsReply)
def restrict_source(name: str, body: GroupsRequest, knowledge: Knowledge) -> SourceGroupsReply:
    """Let only these groups (and admins) read a source; an empty list opens it to everyone."""
    groups = knowledge.restrict(name, parse_groups(body.groups))
    return SourceGroupsReply(source=name, groups=groups)


@router.delete("/api/knowledge/{name}")
def remove_source(name: str, knowledge: Knowledge) -> dict[str, int]:
    """Remove a source and its documents from the index."""
    return {"chunks_removed": knowledge.remove(name)}


class IngestRequest(BaseModel):
    """Folders to add or re-sync, by path (only the CLI on this machine may send paths), and
    web sources, by address (any admin; within ``web.*``)."""

    folders: list[str] = Field(default_factory=list, max_length=50)
    urls: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list, max_length=20)
    rebuild: bool = False


def _streamed(work: Callable[[Progress], list[IngestReport]]) -> Iterator[str]:
    """Run ``work`` in a thread; yield its progress, then its reports (or its error), one JSON
    object per line."""
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def run() -> None:
        try:
            reports = work(
                lambda done, total, name: events.put(
                    {"progress": {"done": done, "total": total, "name": name}}
                )
            )
            events.put({"reports": [dataclasses.asdict(r) for r in reports]})
        except QaBotError as error:
            events.put({"error": str(error)})
        except Exception as error:
            logging.getLogger(__name__).exception("ingestion failed")
            events.put({"error": f"The ingestion failed ({type(error).__name__}): see the log."})
        finally:
            events.put(None)

    threading.Thread(target=run, daemon=True).start()
    while (event := events.get()) is not None:
        yield json.dumps(event) + "\n"


@router.post("/api/knowledge/ingest")
def ingest_folders(
    body: IngestRequest,
    chain: Chain,
    principal: Caller,
) -> StreamingResponse:
    """Add or re-sync folders or web sources, or rebuild every source into a new collection
    while the old one keeps answering; streams progress as JSON lines. A web address the rules
    refuse (``web.*``) is refused before anything runs."""
    if body.folders and (principal is None or principal.via != "local"):
        raise ApiError(
            403,
            "Folders are ingested by path only from `qa-bot ingest` on this machine: "
            "upload files instead.",
        )
    for url in body.urls:
        check_url(url, chain.settings.web)

    def work(progress: Progress) -> list[IngestReport]:
        knowledge = KnowledgeBase(chain.store)
        reports = []
        if body.rebuild:
            reports += knowledge.rebuild(progress, on_switch=chain.swap, drop_after=60)
        reports += [knowledge.ingest(Path(f), progress) for f in body.folders]
        return reports + [knowledge.ingest_url(url, progress) for url in body.urls]

    return StreamingResponse(_streamed(work), media_type="application/x-ndjson")


@router.get("/api/feedback", response_model=list[Feedback])
def list_feedback(feedback: Annotated[FeedbackStore, Depends(get_feedback)]) -> list[Feedback]:
    """Every thumbs up / down, oldest first."""
    return feedback.all()
