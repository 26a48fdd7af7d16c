"""API keys with roles, kept hashed (SHA-256) in the data dir: a key is shown once, when made."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from qa_bot.errors import QaBotError
from qa_bot.storage.restrictions import Groups, parse_groups

Role = Literal["reader", "admin"]


class StoredKey(BaseModel):
    """One key as kept on disk: never the key itself."""

    name: str
    role: Role
    sha256: str
    created: str
    groups: list[str] = Field(default_factory=list)
    """The groups whose restricted sources a reader key reads (a key made before groups has
    none)."""


def digest(key: str) -> str:
    """The SHA-256 of a key, as stored."""
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """``keys.json`` in the data dir, readable by its owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[tuple[int, int, int], list[StoredKey]] | None = None

    def all(self) -> list[StoredKey]:
        """Every key, oldest first (read again only when the file changed: every request
        asks)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # replaced on every save
        if self._cache is None or self._cache[0] != version:
            keys = [StoredKey(**item) for item in json.loads(self.path.read_text())]
            self._cache = (version, keys)
        return list(self._cache[1])

    def _save(self, keys: list[StoredKey]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([k.model_dump() for k in keys], indent=1))
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)

    def add(self, name: str, role: Role, groups: Groups = frozenset()) -> str:
        """Make a key called ``name`` (a reader in ``groups``); return it (the only time it is
        shown)."""
        keys = self.all()
        if any(k.name == name for k in keys):
            raise QaBotError(f"A key called '{name}' exists: remove it first or pick another name.")
        if groups and role == "admin":
            raise QaBotError("Admins read every source: leave --groups out for an admin key.")
        key = f"qab_{secrets.token_urlsafe(32)}"
        created = datetime.now(UTC).isoformat(timespec="seconds")
        stored = StoredKey(
            name=name,
            role=role,
            sha256=digest(key),
            created=created,
            groups=sorted(parse_groups(groups)),
        )
        self._save([*keys, stored])
        return key

    def remove(self, name: str) -> None:
        """Revoke the key called ``name``."""
        keys = self.all()
        if not any(k.name == name for k in keys):
            raise QaBotError(f"No key called '{name}': `qa-bot keys list` shows them.")
        self._save([k for k in keys if k.name != name])

    def find(self, key: str) -> StoredKey | None:
        """The stored key matching ``key`` (compared in constant time), or None."""
        wanted = digest(key)
        found = None
        for stored in self.all():
            if hmac.compare_digest(stored.sha256, wanted):
                found = stored
        return found
