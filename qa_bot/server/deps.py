"""What every route depends on: the chain and the feedback store (from the app's state), and
the guard (API key and rate limit) in front of the API."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from importlib.resources import files

from fastapi import Request

from qa_bot.chain import QaChain
from qa_bot.config import Settings
from qa_bot.storage.feedback import FeedbackStore


class ApiError(Exception):
    """An HTTP error with one plain sentence as its detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


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


def web_asset(name: str) -> str:
    """A file of the bundled web assets (``qa_bot/server/web``)."""
    return files("qa_bot.server").joinpath("web", name).read_text()


def get_chain(request: Request) -> QaChain:
    """The app's one chain."""
    chain: QaChain = request.app.state.chain
    return chain


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return get_chain(request).settings


def get_feedback(request: Request) -> FeedbackStore:
    """The app's feedback store."""
    feedback: FeedbackStore = request.app.state.feedback
    return feedback


def guard(request: Request) -> None:
    """API key (when configured) and per-client rate limit."""
    settings = get_settings(request).server
    if settings.api_key is not None:
        expected = f"Bearer {settings.api_key.get_secret_value()}"
        if request.headers.get("authorization") != expected:
            raise ApiError(401, "Missing or wrong API key: send 'Authorization: Bearer <key>'.")
    limiter: RateLimiter = request.app.state.limiter
    client = request.client.host if request.client else "unknown"
    if not limiter.allow(client):
        raise ApiError(
            429, f"Too many requests: at most {settings.rate_limit} a minute; wait and try again."
        )
