"""``create_app``: the routers of every feature, the policies around them (CORS, framing, API
key, rate limit) and errors as one plain sentence; the Gradio chat mounted at /.

Every route calls the one ``QaChain`` (given through ``Depends``); none retrieves or answers on
its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import gradio as gr
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from qa_bot.chain import QaChain
from qa_bot.errors import (
    BadQuestionError,
    GeneratorError,
    IndexNotReadyError,
    QaBotError,
    StoreUnavailableError,
)
from qa_bot.server import ask, feedback, openai_compat, pages, viewer
from qa_bot.server.deps import ApiError, RateLimiter, guard
from qa_bot.storage.feedback import FeedbackStore

STATUS = {
    BadQuestionError: 400,
    viewer.PassageNotFoundError: 404,
    IndexNotReadyError: 503,
    StoreUnavailableError: 503,
    GeneratorError: 502,
}


def _add_policies(app: FastAPI, allowed_origins: list[str]) -> None:
    """CORS for the allowed origins, and who may frame the pages (CSP frame-ancestors)."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=allowed_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["authorization", "content-type"],
    )
    ancestors = " ".join(["'self'", *allowed_origins])

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

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
        return JSONResponse(
            {"detail": f"Invalid request: {where}: {first['msg']}.", "errors": error.errors()},
            status_code=422,
        )


def create_app(chain: QaChain, ui: gr.Blocks | None = None) -> FastAPI:
    """The whole HTTP server over ``chain``; ``ui`` (the Gradio chat) is mounted at /."""
    settings = chain.settings
    app = FastAPI(title="qa-bot", summary="Answers with verified citations from your documents.")
    app.state.chain = chain
    app.state.feedback = FeedbackStore.beside(settings)
    app.state.limiter = RateLimiter(settings.server.rate_limit)
    _add_policies(app, settings.server.allowed_origins)
    _add_error_handlers(app)
    guarded = [Depends(guard)]
    app.include_router(ask.router, dependencies=guarded)
    app.include_router(openai_compat.router, dependencies=guarded)
    app.include_router(feedback.router, dependencies=guarded)
    app.include_router(viewer.api)
    app.include_router(viewer.pages)
    app.include_router(pages.router)
    if ui is not None:
        app = gr.mount_gradio_app(app, ui, path="/")
    return app
