"""What an operator can watch: Prometheus metrics (served at ``/metrics``, to admins) and one
log line per question. HTTP request counts and latencies per route come from
``prometheus-fastapi-instrumentator`` in the server; these are qa-bot's own."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field

from langchain_core.documents import Document
from prometheus_client import Counter, Histogram

from qa_bot.records import Answer

log = logging.getLogger("qa_bot.questions")
_PLAIN = re.compile(r"[\w.:+-]+", re.ASCII)

ANSWERS = Counter(
    "qa_bot_answers",
    "Questions answered, by answerer and whether the answer refused.",
    ["answerer", "refused"],
)
FAILURES = Counter(
    "qa_bot_question_failures", "Questions that ended in a user-facing error, by kind.", ["error"]
)
STAGES = Histogram(
    "qa_bot_question_stage_seconds",
    "Time per stage of a question: standalone, retrieve, answer.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INGEST_RUNS = Counter("qa_bot_ingest_runs", "Source syncs, by outcome (ok or error).", ["outcome"])


@dataclass
class QuestionRun:
    """One question on its way through the chain: the options it runs with, and the
    milliseconds each stage took; ends in one log line (never the question's author or key)."""

    answerer: str
    k: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    ms: dict[str, float] = field(default_factory=dict)
    _began: float = field(default_factory=time.perf_counter)
    _mark: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        """The stage that just ended."""
        now = time.perf_counter()
        STAGES.labels(stage).observe(now - self._mark)
        self.ms[stage] = round((now - self._mark) * 1000, 1)
        self._mark = now

    @property
    def total_ms(self) -> float:
        """Milliseconds since the question came in."""
        return round((time.perf_counter() - self._began) * 1000, 1)

    def answered(self, answer: Answer, chunks: list[Document]) -> Answer:
        """Count and log the answer; returns it."""
        self.lap("answer")
        ANSWERS.labels(self.answerer, str(answer.refused).lower()).inc()
        top = chunks[0].metadata.get("score") if chunks else None
        self._log(
            chunks=len(chunks),
            refused=str(answer.refused).lower(),
            top_score="-" if top is None else f"{top:.3f}",
            citations=len(answer.citations),
        )
        return answer

    def failed(self, error: Exception) -> None:
        """Count and log a question that ended in a user-facing error."""
        FAILURES.labels(type(error).__name__).inc()
        self._log(error=type(error).__name__)

    def _log(self, **fields: object) -> None:
        timings = {f"{stage}_ms": ms for stage, ms in self.ms.items()}
        pairs = {"id": self.id, "answerer": self.answerer, "k": self.k, **fields, **timings}
        line = " ".join(f"{key}={_logfmt(value)}" for key, value in pairs.items())
        log.info("question %s total_ms=%s", line, self.total_ms)


def _logfmt(value: object) -> str:
    """A value as logfmt writes it: quoted (JSON) unless it is a plain word or number, so a
    name that came in a request cannot forge a line."""
    text = str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text)
