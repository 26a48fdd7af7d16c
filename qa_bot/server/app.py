"""``create_app``: the routers of every feature, the policies around them (CORS, framing, API
key, rate limit) and errors as one plain sentence; the Gradio chat mounted at /.

Every route calls the one ``QaChain`` (given through ``Depends``); none retrieves or answers on
its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import FrameType

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import JSONResponse
from prometheus_fastapi_instrumentator import Instrumentator

from qa_bot.chain import QaChain
from qa_bot.config import Settings
from qa_bot.errors import (
    BadQuestionError,
    CorpusError,
    ForbiddenError,
    GeneratorError,
    IndexNotReadyError,
    IngestCancelled,
    QaBotError,
    StoreUnavailableError,
)
from qa_bot.ingest.web import WebError
from qa_bot.ingest.workers import POOL
from qa_bot.server import ask, documents, feedback, login, openai_compat, pages, questions, viewer
from qa_bot.server.access import AccessPolicy, Principal
from qa_bot.server.deps import ApiError
from qa_bot.server.middleware import AccessMiddleware, RateLimiter
from qa_bot.storage.feedback import FeedbackStore
from qa_bot.storage.keys import KeyStore

STATUS = {
    BadQuestionError: 400,
    ForbiddenError: 403,
    viewer.PassageNotFoundError: 404,
    CorpusError: 409,
    WebError: 400,
    IndexNotReadyError: 503,
    StoreUnavailableError: 503,
    GeneratorError: 502,
    IngestCancelled: 409,
}


def _add_policies(app: FastAPI, settings: Settings, policy: AccessPolicy) -> None:
    """Around every request, outermost first: who may frame the pages, the Host check (DNS
    rebinding), CORS for the allowed origins, the access policy (who, which role, rate limit,
    body size)."""
    server = settings.server
    max_upload = int(settings.ingest.max_file_mb * 1024 * 1024) + 64 * 1024  # + multipart
    limiter = RateLimiter(server.rate_limit)
    app.add_middleware(AccessMiddleware, policy=policy, limiter=limiter, max_upload=max_upload)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=server.allowed_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["authorization", "content-type"],
    )
    loopback = ["127.0.0.1", "localhost", "::1", "[::1]"]  # never a rebinding target
    own = f"[{server.host}]" if ":" in server.host else server.host
    hosts = [*server.allowed_hosts, *loopback, own]
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    ancestors = " ".join(["'self'", *server.allowed_origins])

    @app.middleware("http")
    async def frame_policy(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
        return response


def _add_error_handlers(app: FastAPI) -> None:
    """Every error a client can cause becomes a 4xx (5xx for a backing server) with one
    sentence in ``detail``."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(QaBotError)
    async def user_error(_: Request, error: QaBotError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=STATUS.get(type(error), 400))

    @app.exception_handler(404)
    async def not_found(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": "Nothing here: check the address (the API is described at /docs)."},
            status_code=404,
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, error: RequestValidationError) -> JSONResponse:
        # only where and what: the input itself may be huge, binary or hostile
        errors = [{"loc": e["loc"], "msg": e["msg"]} for e in error.errors()[:10]]
        first = errors[0]
        named = [str(p) for p in first["loc"] if p != "body" and not isinstance(p, int)]
        where = ".".join(named) or "body"
        return JSONResponse(
            {"detail": f"Invalid request: {where}: {first['msg']}.", "errors": errors},
            status_code=422,
        )


def access_policy(settings: Settings, local_token: str | None = None) -> AccessPolicy:
    """The access policy of a server on these settings (keys and the login secret live in the
    data dir; ``local_token`` admits the CLI on this machine)."""
    data = settings.data_path
    keys = KeyStore(data / "keys.json")
    return AccessPolicy(settings.server, keys, data / "session-secret", local_token)


GRACE_SECONDS = 3
"""How long a stopping server waits for the requests under way (a streamed answer, an
ingestion's progress) before it closes them."""


def uvicorn_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    """How qa-bot is served: uvicorn's own X-Forwarded-For handling off (qa-bot reads it, and
    only from ``server.trusted_proxies``); requests under way get ``GRACE_SECONDS`` to end
    when it stops."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )


class Server(uvicorn.Server):
    """uvicorn's server, which on SIGTERM or Ctrl-C first stops reading sources: the worker
    processes are killed, so the ingestion under way ends at once, whatever a source does."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        POOL.close()
        super().handle_exit(sig, frame)


def _gradio_user(request: Request) -> str | None:
    """The caller as the Gradio app knows them (``role:name``); None is refused by Gradio."""
    principal: Principal | None = request.state.principal
    return principal.tag if principal else None


def create_app(
    chain: QaChain, ui: gr.Blocks | None = None, local_token: str | None = None
) -> FastAPI:
    """The whole HTTP server over ``chain``; ``ui`` (the Gradio chat) is mounted at /;
    ``local_token`` admits the CLI on this machine (``qa_bot.server.local``)."""
    settings = chain.settings
    app = FastAPI(title="qa-bot", summary="Answers with verified citations from your documents.")
    app.state.chain = chain
    app.state.feedback = FeedbackStore.beside(settings)
    app.state.questions = chain.question_log  # opened now: expired questions go at start
    app.state.policy = access_policy(settings, local_token)
    _add_policies(app, settings, app.state.policy)
    _add_error_handlers(app)
    for module in (ask, openai_compat, feedback, documents, questions, viewer, pages, login):
        app.include_router(module.router)
    if settings.server.metrics:  # request counts and latencies per route, and qa-bot's own
        Instrumentator(excluded_handlers=["/metrics"]).instrument(app).expose(
            app, include_in_schema=False
        )
    if ui is not None:
        # run_history off: Gradio would keep every call's inputs and results (questions, an
        # admin's question log) in the browser, and let any caller send them to a Hub bucket
        app = gr.mount_gradio_app(
            app, ui, path="/", auth_dependency=_gradio_user, run_history=False
        )
    return app
