"""Load for ``make bench``: ``AskUser`` posts questions to /api/ask; ``ChatUser`` streams
answers from /api/chat (server-sent events) and records the first event and the whole answer.

Questions come from the JSON list named by BENCH_QUESTIONS.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

from locust import HttpUser, constant, task

QUESTIONS: list[str] = json.loads(Path(os.environ["BENCH_QUESTIONS"]).read_text())


def _failure(status: int) -> str:
    return f"status {status}"


class AskUser(HttpUser):
    """One chat-widget reader after another, no think time."""

    wait_time = constant(0)

    @task
    def ask(self) -> None:
        body = {"question": random.choice(QUESTIONS)}
        with self.client.post("/api/ask", json=body, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(_failure(response.status_code))
            elif not response.json().get("answer"):
                response.failure("empty answer")


class ChatUser(HttpUser):
    """A streaming chat: time to the first event, and to the checked answer (locust's own
    entry for the POST times the response headers only)."""

    wait_time = constant(0)

    @task
    def chat(self) -> None:
        started = time.perf_counter()
        body = {"question": random.choice(QUESTIONS)}
        first = None
        events: list[str] = []
        with self.client.post(
            "/api/chat", json=body, stream=True, catch_response=True, name="/api/chat headers"
        ) as response:
            if response.status_code != 200:
                response.failure(_failure(response.status_code))
                return
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("event:"):
                    events.append(line.split(":", 1)[1].strip())
                    first = first or time.perf_counter() - started
        problem = None if "answer" in events else f"no answer event ({', '.join(events)})"
        self._record("/api/chat first event", first or 0.0, problem)
        self._record("/api/chat answer", time.perf_counter() - started, problem)

    def _record(self, name: str, seconds: float, problem: str | None) -> None:
        self.environment.events.request.fire(
            request_type="SSE",
            name=name,
            response_time=seconds * 1000,
            response_length=0,
            exception=RuntimeError(problem) if problem else None,
            context={},
        )
