"""Loaders that behave like a parser stuck on a hostile file, registered by tests through the
``LOADERS`` registry: module-level functions, so a worker process can import and run them."""

from __future__ import annotations

import subprocess
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


def load_through_a_program(path: Path) -> list[tuple[str, str, int | None]]:
    """Runs a program that never ends (as OCR stuck on a page would), its pid written beside
    the file as ``<name>.pid``, and waits for it."""
    program = subprocess.Popen(["sleep", "600"])
    path.with_name(path.name + ".pid").write_text(str(program.pid))
    program.wait()
    return []


def load_with_a_bug(path: Path) -> list[tuple[str, str, int | None]]:
    """Fails as a parser's own bug does on a file it never expected (not a LoadError)."""
    raise KeyError("compression")
