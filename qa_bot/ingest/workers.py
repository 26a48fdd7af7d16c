"""Reading sources outside the process that asks: a small pool of worker processes (forkserver,
started once and reused) runs one picklable call at a time each, within a wall-clock limit and a
memory limit (``RLIMIT_AS``, set when the worker starts). A call over a limit, or cancelled, has
its worker killed; the next call starts a fresh one. Files are read and web pages fetched and read
here, so a hostile source never stops the server (docs/architecture.md)."""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import resource
import signal
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from qa_bot.config import IngestSettings

T = TypeVar("T")
MB = 1024 * 1024
WORKERS = 2
"""Worker processes at most: one reads while another is started or killed."""
PRELOAD = [
    "qa_bot.ingest.loaders",
    "qa_bot.ingest.ocr",
    "qa_bot.ingest.pdf",
    "qa_bot.ingest.pictures",
    "qa_bot.ingest.sheets",
    "qa_bot.ingest.slides",
    "qa_bot.ingest.web",
]
"""Imported once by the fork server, so a new worker starts in milliseconds."""
POLL = 0.1
"""Seconds between looks at a call's limits while it runs."""


class ReadFailed(Exception):
    """A call that did not return within its limits (or whose process died); ``str()`` says why
    in a few words, naming the setting to raise."""


class Stopped(Exception):
    """An ingestion told to stop (``str()`` says why); ``overtime`` when it ran past
    ``ingest.max_source_minutes``, else it was cancelled."""

    def __init__(self, why: str, overtime: bool = False) -> None:
        super().__init__(why)
        self.overtime = overtime


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Limits:
    """What one source's ingestion may spend: ``seconds`` and ``memory_mb`` per file or page,
    and in all until ``deadline`` (``time.monotonic``), unless ``cancelled()`` says to stop."""

    seconds: float = 60.0
    memory_mb: float = 1024.0
    minutes: float = math.inf
    deadline: float = math.inf
    cancelled: Callable[[], bool] = field(default=_never, compare=False)

    @classmethod
    def of(cls, ingest: IngestSettings, cancelled: Callable[[], bool] = _never) -> Limits:
        """The limits ``ingest`` sets, the source's time counted from now."""
        minutes = ingest.max_source_minutes
        return cls(
            ingest.parse_timeout_seconds,
            ingest.parse_memory_mb,
            minutes,
            time.monotonic() + minutes * 60,
            cancelled,
        )

    def check(self) -> None:
        """Raise Stopped when the ingestion must stop: cancelled, the server stopping, or out
        of time."""
        if POOL.closed:
            raise Stopped("the server is stopping")
        if self.cancelled():
            raise Stopped("an admin cancelled it")
        if time.monotonic() > self.deadline:
            raise Stopped(
                f"it stopped after {self.minutes:g} minutes (raise "
                "QA_BOT_INGEST__MAX_SOURCE_MINUTES to read the rest)",
                overtime=True,
            )


def _serve(connection: Connection, memory: int) -> None:
    """A worker's loop: capped at ``memory`` bytes of address space, run each call received
    and send back ("ok", result), ("error", exception) or ("memory", None)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    os.setpgid(0, 0)  # a group of its own: killed, it takes the programs it runs (Tesseract) along
    while True:
        try:
            function, args = connection.recv()
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", function(*args))
        except MemoryError:
            answer = ("memory", None)
        except Exception as error:
            answer = ("error", error)
        try:
            connection.send(answer)
        except MemoryError:
            connection.send(("memory", None))
        except Exception as error:  # an exception that does not pickle
            connection.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))


class _Worker:
    """One worker process and the pipe to it."""

    def __init__(self, context: Any, memory: int) -> None:
        self.connection, child = context.Pipe()
        self.memory = memory
        self.process = context.Process(
            target=_serve, args=(child, memory), daemon=True, name="qa-bot-reader"
        )
        self.process.start()
        child.close()

    def kill(self) -> None:
        self.stop()
        self.process.join(5)
        self.connection.close()

    def stop(self) -> None:
        """Kill the worker and what it runs (its process group, once it has made it)."""
        if self.process.pid is not None:  # never killpg(0): that is this process's own group
            with suppress(ProcessLookupError, PermissionError):  # not yet a group of its own
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.kill()


class WorkerPool:
    """At most ``size`` workers, kept between calls; one killed (over a limit, cancelled) is
    replaced by a new one at the next call. ``close`` kills them all and refuses more calls."""

    def __init__(self, size: int = WORKERS) -> None:
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._context: Any = None
        self.closed = False

    def run(self, limits: Limits, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker, within ``limits``: its result or its exception;
        ReadFailed over a limit, Stopped when the ingestion must stop."""
        with self._slots:
            limits.check()
            worker = self._take(int(limits.memory_mb * MB))
            try:
                kind, value = self._call(worker, limits, function, args)
            except BaseException:
                self._discard(worker)
                raise
            if kind == "memory":
                self._discard(worker)
                raise ReadFailed(
                    f"it needed more than {limits.memory_mb:g} MB of memory to read, so its "
                    "reader was stopped (raise QA_BOT_INGEST__PARSE_MEMORY_MB to ingest it)"
                )
            self._give_back(worker)
            if kind == "error":
                raise value
            return value  # type: ignore[no-any-return]

    def _call(
        self, worker: _Worker, limits: Limits, function: Callable[..., T], args: tuple[Any, ...]
    ) -> tuple[str, Any]:
        """Send the call and wait for its answer, looking at the limits every ``POLL`` s."""
        try:
            worker.connection.send((function, args))
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise ReadFailed(f"its reader cannot run in a worker process ({error})") from None
        deadline = time.monotonic() + limits.seconds
        try:
            while not worker.connection.poll(POLL):
                limits.check()
                if time.monotonic() > deadline:
                    raise ReadFailed(
                        f"it took longer than {limits.seconds:g} s to read, so its reader was "
                        "stopped (raise QA_BOT_INGEST__PARSE_TIMEOUT_SECONDS to ingest it)"
                    )
            answer: tuple[str, Any] = worker.connection.recv()
        except (EOFError, OSError, ValueError):  # the process died, or close() killed it
            limits.check()
            worker.process.join(1)
            code = worker.process.exitcode
            raise ReadFailed(
                f"its reader process ended without an answer (exit code {code})"
            ) from None
        return answer

    def _take(self, memory: int) -> _Worker:
        """An idle worker with this memory limit, else a new one (an idle one with another
        limit is retired)."""
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.memory == memory and worker.process.is_alive():
                    self._busy.add(worker)
                    return worker
                worker.kill()
            if self._context is None:
                self._context = multiprocessing.get_context("forkserver")
                self._context.set_forkserver_preload(PRELOAD)
            worker = _Worker(self._context, memory)
            self._busy.add(worker)
            return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            self._idle.append(worker)

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
        worker.kill()

    def close(self) -> None:
        """Kill every worker, busy ones too; calls from now on are Stopped."""
        self.closed = True
        with self._lock:
            doomed = self._idle + list(self._busy)
            self._idle.clear()
        for worker in doomed:
            worker.stop()


POOL = WorkerPool()
"""The process's pool: ``run`` sends calls to it."""


def run(limits: Limits, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in one of the process's workers, within ``limits``."""
    return POOL.run(limits, function, *args)
