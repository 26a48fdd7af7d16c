"""Things qa-bot makes once and keeps in its cache folder (converted encoders, assembled
models): built into a temporary sibling and renamed into place under a lock file, so another
process never sees half of one and never builds it twice; a damaged one is built again."""

from __future__ import annotations

import fcntl
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from rich.console import Console


def built_once(
    target: Path, intact: Callable[[Path], bool], build: Callable[[Path], None], label: str
) -> Path:
    """``target``, made by ``build(folder)`` (which fills a new folder) unless
    ``intact(target)``; ``label`` is shown while it builds. Raises OSError when the cache
    cannot be written."""
    if intact(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it right now
        if not intact(target):
            _discard(target)
            with (
                Console(stderr=True).status(label),
                tempfile.TemporaryDirectory(dir=target.parent, prefix=".building-") as tmp,
            ):
                work = Path(tmp) / "built"
                work.mkdir()
                build(work)
                work.rename(target)
    return target


def _discard(target: Path) -> None:
    """Remove a damaged or partial build (renamed first, so no reader sees half of it)."""
    if target.exists():
        doomed = target.with_name(f".discarded-{uuid.uuid4().hex}")
        target.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
