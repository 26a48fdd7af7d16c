"""How the CLI on this machine finds a running qa-bot server on the same data dir and works
through it (one process writes the index; the server never stops answering).

``qa-bot serve`` writes ``server.json`` (readable by its owner only) with its address, its
process id and a random token; a request carrying that token is the local admin.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass

import httpx

from qa_bot.config import Settings

INFO = "server.json"
TOKEN_HEADER = "x-qa-bot-local-token"


@dataclass(frozen=True)
class LocalServer:
    """A qa-bot server on this machine and data dir."""

    url: str
    pid: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {TOKEN_HEADER: self.token}


def announce(settings: Settings, url: str) -> LocalServer:
    """Record this process as the data dir's server; return its record."""
    server = LocalServer(url=url, pid=os.getpid(), token=secrets.token_urlsafe(32))
    path = settings.data_path / INFO
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(server)))
    tmp.chmod(0o600)
    tmp.replace(path)
    return server


def withdraw(settings: Settings, server: LocalServer) -> None:
    """Remove the record when this server stops (unless another took over)."""
    path = settings.data_path / INFO
    if find_record(settings) == server:
        path.unlink(missing_ok=True)


def find_record(settings: Settings) -> LocalServer | None:
    """The recorded server, alive or not."""
    path = settings.data_path / INFO
    try:
        return LocalServer(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def find(settings: Settings) -> LocalServer | None:
    """The running server on this data dir, or None (no record, process gone, or silent)."""
    server = find_record(settings)
    if server is None:
        return None
    try:
        os.kill(server.pid, 0)
        httpx.get(f"{server.url}/healthz", timeout=3).raise_for_status()
    except (OSError, httpx.HTTPError):
        return None
    return server
