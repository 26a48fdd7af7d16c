"""A lock granted in arrival order, for the models: under load, ``threading.Lock`` lets a
thread that just released it take it again ahead of those waiting, so some questions wait
much longer than others; ``Turns`` hands it to the longest-waiting caller."""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class Turns:
    """A mutex whose waiters get it first come, first served (``with turns: ...``)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._held = False

    def __enter__(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            mine = threading.Event()
            self._waiting.append(mine)
        mine.wait()  # the holder hands it over: still held, now by this thread

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with self._guard:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._held = False
