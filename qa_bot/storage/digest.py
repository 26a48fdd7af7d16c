"""Checksums of files, and files joined from parts."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rich.progress import Progress

BLOCK = 8 * 1024 * 1024


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file's content, read a MB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def concatenate(parts: list[Path], target: Path, label: str) -> str:
    """Write ``parts`` one after another into ``target``, with a progress bar; their sha256."""
    digest = hashlib.sha256()
    total = sum(part.stat().st_size for part in parts)
    with Progress(transient=True) as progress, target.open("wb") as out:
        task = progress.add_task(label, total=total)
        for part in parts:
            with part.open("rb") as source:
                while block := source.read(BLOCK):
                    digest.update(block)
                    out.write(block)
                    progress.advance(task, len(block))
    return digest.hexdigest()
