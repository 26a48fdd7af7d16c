"""Plain pages: liveness, the wiki widget's script and its iframe page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from qa_bot.ingest.batch import is_ingesting
from qa_bot.server.access import readable_groups
from qa_bot.server.deps import Caller, Chain, web_asset

router = APIRouter()


@router.get("/healthz")
def healthz(
    chain: Chain,
    principal: Caller,
) -> dict[str, Any]:
    """Liveness for anyone; for signed-in readers, the index as it is now: its size (the
    chunks and documents they may read), whether an ingestion is running, the collection
    answering (a 503 when Chroma is unreachable)."""
    if principal is None:
        return {"status": "ok"}
    store = chain.store
    readable = chain.readable(readable_groups(principal))
    if readable is None:
        chunks, documents = store.count(), len(store.documents())
    else:
        counts = store.chunk_counts()
        chunks, documents = sum(counts.get(d, 0) for d in readable), len(readable)
    return {
        "status": "ok",
        "chunks": chunks,
        "documents": documents,
        "ingesting": is_ingesting(store),
        "collection": store.collection_name,
        "answerer": chain.settings.answer.answerer,
    }


@router.get("/embed", response_class=HTMLResponse)
def embed() -> str:
    """A compact chat page for an iframe in a wiki."""
    return web_asset("embed.html")


@router.get("/widget.js")
def widget() -> Response:
    """The floating chat button for any page: <script src=".../widget.js" defer>."""
    return Response(web_asset("widget.js"), media_type="text/javascript")
