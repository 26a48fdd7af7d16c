"""The HTTP face: one FastAPI app serving the JSON API, answers streamed as server-sent events, an
OpenAI-compatible endpoint, the source viewer, feedback, the wiki widget, and the Gradio chat at /.

Every route calls the one ``QaChain``; none retrieves or answers on its own.
"""

from __future__ import annotations

import html
import json
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from importlib.resources import files
from string import Template
from typing import Literal

import gradio as gr
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from qa_bot.chain import QaChain
from qa_bot.errors import (
    BadQuestionError,
    GeneratorError,
    IndexNotReadyError,
    QaBotError,
    StoreUnavailableError,
)
from qa_bot.feedback import Feedback, FeedbackStore
from qa_bot.followup import History
from qa_bot.models import Answer
from qa_bot.sources import SourceNotFoundError, SourceView, view_source

MAX_QUESTION = 4000  # request-size guard; the chain enforces the configured, smaller limit
STATUS = {
    BadQuestionError: 400,
    SourceNotFoundError: 404,
    IndexNotReadyError: 503,
    StoreUnavailableError: 503,
    GeneratorError: 502,
}


class ApiError(Exception):
    """An HTTP error with one plain sentence as its detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class AskRequest(BaseModel):
    """A question, optionally with the conversation so far and source filters."""

    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    history: list[tuple[str, str | None]] = Field(default_factory=list, max_length=50)
    sources: list[str] | None = Field(None, max_length=20)


class ChatMessage(BaseModel):
    """One OpenAI chat message; only text content is read."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content)
        return self.content or ""


class CompletionRequest(BaseModel):
    """The part of an OpenAI chat-completions request qa-bot uses."""

    model: str = "qa-bot"
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False

    def question_and_history(self) -> tuple[str, History]:
        """The last user message, and the earlier user/assistant turns."""
        turns: History = []
        for message in self.messages:
            if message.role == "user":
                turns.append((message.text, None))
            elif message.role == "assistant" and turns:
                turns[-1] = (turns[-1][0], message.text)
        if not turns or self.messages[-1].role != "user":
            raise ApiError(400, "The last message must be the user's question.")
        return turns[-1][0], turns[:-1]


class RateLimiter:
    """At most ``per_minute`` requests per client in any 60-second window."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.hits: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        recent = self.hits[client]
        while recent and now - recent[0] > 60:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return False
        recent.append(now)
        return True


def _web(name: str) -> str:
    """A file of the bundled web assets (``qa_bot/web``)."""
    return files("qa_bot").joinpath("web", name).read_text()


def _completion(answer: Answer, model: str, completion_id: str) -> dict:
    """An OpenAI chat completion carrying the answer; citations in an extra field."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer},
                "finish_reason": "stop",
            }
        ],
        "citations": [c.model_dump() for c in answer.citations],
        "refused": answer.refused,
        "unsupported": answer.unsupported,
    }


def _chunk(completion_id: str, model: str, delta: dict, finish: str | None = None) -> dict:
    """One OpenAI ``chat.completion.chunk``."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def highlight_page(view: SourceView) -> str:
    """The source viewer page: the text around the chunk, escaped, the quote in <mark>."""
    before, quote, after = (
        view.text[: view.mark_start],
        view.text[view.mark_start : view.mark_end],
        view.text[view.mark_end :],
    )
    page = f" · page {view.page}" if view.page else ""
    return Template(_web("source.html")).substitute(
        title=html.escape(view.title),
        source=html.escape(view.source) + page,
        before=html.escape(before),
        quote=html.escape(quote),
        after=html.escape(after),
    )


def create_app(chain: QaChain, ui: gr.Blocks | None = None) -> FastAPI:
    """The whole HTTP server over ``chain``; ``ui`` (the Gradio chat) is mounted at /."""
    settings = chain.settings
    feedback = FeedbackStore.beside(settings)
    limiter = RateLimiter(settings.rate_limit)
    app = FastAPI(title="qa-bot", summary="Answers with verified citations from your documents.")
    app.state.feedback = feedback
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["authorization", "content-type"],
    )
    ancestors = " ".join(["'self'", *settings.allowed_origins])

    @app.middleware("http")
    async def frame_policy(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
        return response

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(QaBotError)
    async def user_error(_: Request, error: QaBotError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=STATUS.get(type(error), 400))

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
        return JSONResponse(
            {"detail": f"Invalid request: {where}: {first['msg']}.", "errors": error.errors()},
            status_code=422,
        )

    def guard(request: Request) -> None:
        """API key (when configured) and per-client rate limit."""
        if settings.api_key is not None:
            expected = f"Bearer {settings.api_key.get_secret_value()}"
            if request.headers.get("authorization") != expected:
                raise ApiError(401, "Missing or wrong API key: send 'Authorization: Bearer <key>'.")
        client = request.client.host if request.client else "unknown"
        if not limiter.allow(client):
            raise ApiError(
                429,
                f"Too many requests: at most {settings.rate_limit} a minute; wait and try again.",
            )

    api = APIRouter(dependencies=[Depends(guard)])

    @api.post("/api/ask", response_model=Answer)
    def ask(body: AskRequest) -> Answer:
        """The answer with its citations: the JSON of ``qa-bot ask --json``."""
        return chain.ask(body.question, body.history, body.sources)

    @api.post("/api/chat")
    def chat(body: AskRequest) -> EventSourceResponse:
        """The answer as server-sent events: ``token`` pieces, then ``answer`` (the checked
        Answer), or ``error`` with one sentence."""

        def events() -> Iterator[dict]:
            try:
                for piece in chain.stream(body.question, body.history, body.sources):
                    if isinstance(piece, Answer):
                        yield {"event": "answer", "data": piece.model_dump_json()}
                    else:
                        yield {"event": "token", "data": json.dumps({"text": piece})}
            except QaBotError as error:
                yield {"event": "error", "data": json.dumps({"message": str(error)})}

        return EventSourceResponse(events())

    @api.post("/v1/chat/completions", response_model=None)
    def completions(body: CompletionRequest) -> dict | EventSourceResponse:
        """OpenAI-compatible chat completions (stream or not); citations in ``citations``."""
        question, history = body.question_and_history()
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        if not body.stream:
            return _completion(chain.ask(question, history), body.model, completion_id)

        def events() -> Iterator[str]:
            yield json.dumps(_chunk(completion_id, body.model, {"role": "assistant"}))
            try:
                for piece in chain.stream(question, history):
                    if isinstance(piece, Answer):
                        final = _chunk(completion_id, body.model, {}, "stop")
                        final["citations"] = [c.model_dump() for c in piece.citations]
                        final["unsupported"] = piece.unsupported
                        yield json.dumps(final)
                    else:
                        yield json.dumps(_chunk(completion_id, body.model, {"content": piece}))
            except QaBotError as error:
                yield json.dumps({"error": {"message": str(error), "type": "qa_bot_error"}})
            yield "[DONE]"

        return EventSourceResponse(events())

    @api.get("/v1/models")
    def models() -> dict:
        """The one model this server offers, for OpenAI clients that list models."""
        return {"object": "list", "data": [{"id": "qa-bot", "object": "model"}]}

    @api.get("/api/sources/{chunk_id}", response_model=SourceView)
    def source(chunk_id: str, start: int | None = None, end: int | None = None) -> SourceView:
        """The document text around a chunk, the quoted span marked (offsets into ``text``)."""
        return view_source(chain.store, chunk_id, start, end)

    @api.post("/api/feedback")
    def add_feedback(body: Feedback) -> dict:
        """Store a thumbs up / down with the question, answer and citations."""
        return {"id": feedback.add(body)}

    app.include_router(api)

    @app.get("/sources/{chunk_id}", response_class=HTMLResponse)
    def source_page(chunk_id: str, start: int | None = None, end: int | None = None) -> str:
        """The source viewer: the text around the chunk with the quote highlighted."""
        return highlight_page(view_source(chain.store, chunk_id, start, end))

    @app.get("/healthz")
    def healthz() -> dict:
        """Liveness and index size."""
        return {"status": "ok", "chunks": chain.store.count(), "generator": settings.generator}

    @app.get("/embed", response_class=HTMLResponse)
    def embed() -> str:
        """A compact chat page for an iframe in a wiki."""
        return _web("embed.html")

    @app.get("/widget.js")
    def widget() -> Response:
        """The floating chat button for any page: <script src=".../widget.js" defer>."""
        return Response(_web("widget.js"), media_type="text/javascript")

    if ui is not None:
        app = gr.mount_gradio_app(app, ui, path="/")
    return app
