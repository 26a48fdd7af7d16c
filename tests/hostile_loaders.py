"""Loaders that behave like a parser stuck on a hostile file, registered by tests through the
``LOADERS`` registry: module-level functions, so a worker process can import and run them."""

from __future__ import annotations

import time
from pathlib import Path

MB = 1024 * 1024


def load_forever(path: Path) -> list[tuple[str, str, int | None]]:
    """Never returns: a parse that loops (it sleeps, so the test machine stays usable)."""
    while True:
        time.sleep(1)


def load_greedily(path: Path) -> list[tuple[str, str, int | None]]:
    """Allocates 10 MB after 10 MB, as a parse blown up by its input does, until stopped."""
    held = []
    while True:
        held.append(bytearray(10 * MB))
