"""One access policy in front of every route, the Gradio chat and its API included.

Who is asking (``AccessPolicy.identify``): an API key (``Authorization: Bearer``), a chat login
(a signed, HttpOnly, SameSite=Strict cookie), a user named by a trusted reverse proxy, or, when
the operator allows it, an anonymous reader of the wiki widget. With no way in configured and the
server bound to loopback, the local user is an admin; bound elsewhere, everyone only reads.

What a route needs (``needed_role``): nothing (liveness, login, the widget's static files),
``reader`` (ask, chat, sources, feedback) or ``admin`` (documents, uploads, reading feedback
and the question log).

Which sources a caller reads (``readable_groups``): a key's groups or those a trusted proxy
names; the sources open to everyone and those restricted to one of these groups. Admins read
every source; anonymous widget readers have no group.
docs/security.md states the policy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import HTTPConnection

from qa_bot.config import ServerSettings
from qa_bot.errors import ForbiddenError
from qa_bot.server.local import TOKEN_HEADER
from qa_bot.storage.keys import KeyStore, Role, StoredKey, digest
from qa_bot.storage.restrictions import Groups, lenient_groups

COOKIE = "qa_bot_session"
CHATS_COOKIE = "qa_bot_chats"
"""Whose chats this browser keeps (``AccessPolicy.chats_owner``): the chat page clears the
saved chats of anyone else before they are shown (``AccessMiddleware``)."""
OPEN_PATHS = {"/healthz", "/login", "/logout", "/widget.js", "/embed", "/favicon.ico"}
ADMIN_PATHS = (
    "/api/knowledge",
    "/api/questions",
    "/gradio_api/upload",
    "/gradio_api/process_recording",
    "/metrics",
)
EXPORTS = "qa-bot-exports"
"""The Questions tab's exports, a folder in Gradio's: any path naming it is for admins (Gradio
serves every file of its folder to whoever may call it)."""
WIDGET_PATHS = ("/api/chat", "/api/ask", "/api/sources/", "/sources/", "/api/feedback")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Principal:
    """Who is asking, with which role and groups, and how they proved it."""

    name: str
    role: Role
    via: str
    groups: Groups = frozenset()

    def allows(self, needed: Role) -> bool:
        return needed == "reader" or self.role == "admin"

    @property
    def tag(self) -> str:
        """``role:groups:name`` (groups comma-separated): how the Gradio app learns who is
        asking (its "username"). Group names hold no ``:``, so the name may."""
        return f"{self.role}:{','.join(sorted(self.groups))}:{self.name}"

    @classmethod
    def from_tag(cls, tag: str | None) -> Principal | None:
        if not tag or tag.count(":") < 2:
            return None
        role, groups, name = tag.split(":", 2)
        admin = role == "admin"
        return cls(name, "admin" if admin else "reader", "gradio", lenient_groups(groups))


def readable_groups(principal: Principal | None) -> Groups | None:
    """The groups whose restricted sources the caller reads beside the open ones: None for an
    admin (every source), none for a caller nobody identified. Every face asks this and hands
    it to the chain (``groups``)."""
    if principal is None:
        return frozenset()
    return None if principal.role == "admin" else principal.groups


def check_answerer(principal: Principal | None, answerer: str | None, default: str) -> None:
    """Anyone may ask the configured answerer; only an admin may choose another (it may call
    a paid endpoint or load a slow local model). Every face asks this, Gradio's included."""
    if answerer in (None, default) or (principal is not None and principal.role == "admin"):
        return
    raise ForbiddenError("Only an admin may choose the answerer: leave it unset for the default.")


def needed_role(method: str, path: str) -> Role | None:
    """The role a request needs; None for the open routes."""
    if path in OPEN_PATHS:
        return None
    admin = (
        path.startswith(ADMIN_PATHS)
        or EXPORTS in path
        or (path == "/api/feedback" and method == "GET")
        # readers may list what they search, not change it
        or (path.startswith("/api/documents") and method not in SAFE_METHODS)
    )
    return "admin" if admin else "reader"


def same(given: str, expected: str) -> bool:
    """Constant-time string comparison that takes any characters (``hmac.compare_digest``
    raises TypeError on non-ASCII text, which a client controls)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def _in_networks(host: str, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


class AccessPolicy:
    """Identifies the caller of a request and signs chat logins."""

    def __init__(
        self,
        settings: ServerSettings,
        keys: KeyStore,
        secret_file: Path,
        local_token: str | None = None,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self._secret = self._load_secret(secret_file)
        self.local_token = local_token

    @staticmethod
    def _load_secret(path: Path) -> bytes:
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()

    @property
    def auth_configured(self) -> bool:
        """True when some way in (a key or a trusted proxy) is configured."""
        s = self.settings
        return bool(s.api_key or s.trusted_proxies or self.keys.all())

    def check_key(self, key: str) -> Principal | None:
        """The principal an API key stands for, or None."""
        admin_key = self.settings.api_key
        if admin_key and same(key, admin_key.get_secret_value()):
            return Principal("api-key", "admin", "key")
        return _holder(self.keys.find(key), "key")

    def identify(self, conn: HTTPConnection) -> Principal | None:
        """Who is asking, or None when nobody is signed in."""
        local = conn.headers.get(TOKEN_HEADER)
        if local and self.local_token and same(local, self.local_token):
            return Principal("local-cli", "admin", "local")
        if not self.auth_configured:
            role: Role = "admin" if self.settings.loopback else "reader"
            return Principal("local", role, "open")
        auth = conn.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return self.check_key(auth[7:].strip())  # a wrong key is not silently anonymous
        if (cookie := conn.cookies.get(COOKIE)) and (found := self._from_cookie(cookie)):
            return found
        if (proxied := self._from_proxy(conn)) is not None:
            return proxied
        if self.settings.anonymous_widget and conn.url.path.startswith(WIDGET_PATHS):
            origin = conn.headers.get("origin")
            if origin is None or self.trusted_origin(conn, origin):
                return Principal("anonymous", "reader", "widget")
        return None

    def own_origin(self, conn: HTTPConnection) -> str:
        """This server's origin as the browser sees it (behind a trusted proxy, with the
        scheme the proxy was reached by)."""
        scheme = conn.url.scheme
        if self.from_trusted_proxy(conn):
            scheme = conn.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
        return f"{scheme}://{conn.headers.get('host', '')}"

    def trusted_origin(self, conn: HTTPConnection, origin: str | None) -> bool:
        """True for this server's own origin and the allowed ones."""
        return origin == self.own_origin(conn) or origin in self.settings.allowed_origins

    def from_trusted_proxy(self, conn: HTTPConnection) -> bool:
        """True when the connection comes from a configured reverse proxy."""
        peer = conn.client.host if conn.client else ""
        return _in_networks(peer, self.settings.trusted_proxies)

    def client_id(self, conn: HTTPConnection) -> str:
        """Who to count a request against: the peer, or behind a trusted proxy the address it
        forwards for (X-Forwarded-For from anyone else is ignored)."""
        peer = conn.client.host if conn.client else "unknown"
        forwarded = conn.headers.get("x-forwarded-for", "")
        if forwarded and self.from_trusted_proxy(conn):
            return forwarded.split(",")[-1].strip() or peer
        return peer

    def _from_proxy(self, conn: HTTPConnection) -> Principal | None:
        if not self.from_trusted_proxy(conn):
            return None  # a forged header from anyone else is ignored
        user = conn.headers.get(self.settings.proxy_user_header, "").strip()
        email = conn.headers.get(self.settings.proxy_email_header, "").strip()
        name = user or email  # the user header wins: a passed-through email is never trusted
        if not name:
            return None
        role: Role = "admin" if name in self.settings.admins else "reader"
        groups = lenient_groups(conn.headers.get(self.settings.proxy_groups_header, ""))
        return Principal(name, role, "proxy", groups)

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._secret, payload, hashlib.sha256).hexdigest()

    def chats_owner(self, principal: Principal) -> str:
        """A stamp of who the chat page is shown to, with their role and groups (signed, so it
        says nothing of them): the chats a browser saved belong to this stamp, and go when
        another person, or the same one with other groups, opens the page."""
        return self._sign(b"chats\0" + principal.tag.encode("utf-8", "surrogateescape"))[:32]

    def session_cookie(self, key: str) -> str | None:
        """A signed login for the holder of ``key`` that expires after ``session_hours`` and
        ends as soon as the key is revoked; None when the key is not valid."""
        if self.check_key(key) is None:
            return None
        expires = int(time.time() + self.settings.session_hours * 3600)
        body = json.dumps({"k": digest(key), "e": expires}).encode()
        payload = base64.urlsafe_b64encode(body)
        return f"{payload.decode()}.{self._sign(payload)}"

    def _from_cookie(self, value: str) -> Principal | None:
        payload, _, signature = value.partition(".")
        if not same(self._sign(payload.encode("utf-8", "surrogateescape")), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("e", 0) < time.time():
            return None
        found = self._by_digest(str(data.get("k", "")))
        return Principal(found.name, found.role, "session", found.groups) if found else None

    def _by_digest(self, wanted: str) -> Principal | None:
        """The key holder whose key hashes to ``wanted`` now (a revoked key matches nothing)."""
        admin_key = self.settings.api_key
        if admin_key and same(digest(admin_key.get_secret_value()), wanted):
            return Principal("api-key", "admin", "key")
        stored = next((k for k in self.keys.all() if same(k.sha256, wanted)), None)
        return _holder(stored, "key")


def _holder(stored: StoredKey | None, via: str) -> Principal | None:
    """The holder of a stored key, with its role and groups."""
    if stored is None:
        return None
    return Principal(stored.name, stored.role, via, frozenset(stored.groups))
