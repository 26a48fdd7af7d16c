"""One access policy in front of every route, the Gradio chat and its API included.

Who is asking (``AccessPolicy.identify``): an API key (``Authorization: Bearer``), a chat login
(a signed, HttpOnly, SameSite=Strict cookie), a user named by a trusted reverse proxy, or, when
the operator allows it, an anonymous reader of the wiki widget. With no way in configured and the
server bound to loopback, the local user is an admin; bound elsewhere, everyone only reads.

What a route needs (``needed_role``): nothing (liveness, login, the widget's static files),
``reader`` (ask, chat, sources, feedback) or ``admin`` (documents, uploads, reading feedback).
docs/security.md states the policy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import ipaddress
import json
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gradio.utils import get_upload_folder
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa_bot.config import ServerSettings
from qa_bot.server.local import TOKEN_HEADER
from qa_bot.storage.keys import KeyStore, Role, digest

COOKIE = "qa_bot_session"
OPEN_PATHS = {"/healthz", "/login", "/logout", "/widget.js", "/embed", "/favicon.ico"}
ADMIN_PATHS = ("/api/knowledge", "/gradio_api/upload", "/gradio_api/process_recording")
LIMITED_PATHS = ("/api/", "/v1/", "/login")  # and every POST to Gradio
WIDGET_PATHS = ("/api/chat", "/api/ask", "/api/sources/", "/sources/", "/api/feedback")
UPLOAD_PATHS = ("/api/documents", "/gradio_api/upload")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
GRADIO_CALLS = "/gradio_api/"


@dataclass(frozen=True)
class Principal:
    """Who is asking, with which role, and how they proved it."""

    name: str
    role: Role
    via: str

    def allows(self, needed: Role) -> bool:
        return needed == "reader" or self.role == "admin"

    @property
    def tag(self) -> str:
        """``role:name``: how the Gradio app learns who is asking (its "username")."""
        return f"{self.role}:{self.name}"

    @classmethod
    def from_tag(cls, tag: str | None) -> Principal | None:
        if not tag or ":" not in tag:
            return None
        role, name = tag.split(":", 1)
        return cls(name, "admin" if role == "admin" else "reader", "gradio")


def needed_role(method: str, path: str) -> Role | None:
    """The role a request needs; None for the open routes."""
    if path in OPEN_PATHS:
        return None
    if path.startswith(ADMIN_PATHS) or (path == "/api/feedback" and method == "GET"):
        return "admin"
    if path.startswith("/api/documents") and method not in SAFE_METHODS:
        return "admin"  # readers may list what they search, not change it
    return "reader"


def _in_networks(host: str, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


class RateLimiter:
    """At most ``per_minute`` requests per client in any 60-second window (in this process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.hits: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        recent = self.hits[client]
        while recent and now - recent[0] > 60:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return False
        recent.append(now)
        return True


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
        if admin_key and hmac.compare_digest(key.encode(), admin_key.get_secret_value().encode()):
            return Principal("api-key", "admin", "key")
        stored = self.keys.find(key)
        return Principal(stored.name, stored.role, "key") if stored else None

    def identify(self, conn: HTTPConnection) -> Principal | None:
        """Who is asking, or None when nobody is signed in."""
        local = conn.headers.get(TOKEN_HEADER)
        if local and self.local_token and hmac.compare_digest(local, self.local_token):
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
            if origin is None or origin in self.settings.allowed_origins or origin == _own(conn):
                return Principal("anonymous", "reader", "widget")
        return None

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
        if not (user or email):
            return None
        admin = bool({user, email} & set(self.settings.admins) - {""})
        return Principal(user or email, "admin" if admin else "reader", "proxy")

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._secret, payload, hashlib.sha256).hexdigest()

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
        if not hmac.compare_digest(self._sign(payload.encode()), signature):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("e", 0) < time.time():
            return None
        found = self._by_digest(str(data.get("k", "")))
        return Principal(found.name, found.role, "session") if found else None

    def _by_digest(self, wanted: str) -> Principal | None:
        """The key holder whose key hashes to ``wanted`` now (a revoked key matches nothing)."""
        admin_key = self.settings.api_key
        if admin_key and hmac.compare_digest(digest(admin_key.get_secret_value()), wanted):
            return Principal("api-key", "admin", "key")
        stored = next((k for k in self.keys.all() if hmac.compare_digest(k.sha256, wanted)), None)
        return Principal(stored.name, stored.role, "key") if stored else None


def _own(conn: HTTPConnection) -> str:
    """This server's origin as the browser sees it."""
    return f"{conn.url.scheme}://{conn.headers.get('host', '')}"


def _detail(status: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=status)


class AccessMiddleware:
    """Applies the policy to every request before any route or the Gradio app sees it: who is
    asking, whether they may, the rate limit, CSRF for cookie logins, and the body size."""

    def __init__(
        self, app: ASGIApp, policy: AccessPolicy, limiter: RateLimiter, max_upload: int
    ) -> None:
        self.app = app
        self.policy = policy
        self.limiter = limiter
        self.max_body = policy.settings.max_body_kb * 1024
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        principal = self.policy.identify(conn)
        scope.setdefault("state", {})["principal"] = principal
        refusal = self._refusal(conn, scope.get("method", "GET"), principal)
        if refusal is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await refusal(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            limit = self.max_upload if conn.url.path.startswith(UPLOAD_PATHS) else self.max_body
            body = await _read_body(receive, limit)
            if body is None:
                await _detail(
                    413, f"The request is too large (at most {limit // 1024} KB): send less."
                )(scope, receive, send)
                return
            if conn.url.path.startswith(GRADIO_CALLS) and names_foreign_file(body):
                await _detail(
                    400, "Refused: a file in this request was not uploaded through qa-bot."
                )(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _refusal(
        self, conn: HTTPConnection, method: str, principal: Principal | None
    ) -> Response | None:
        path = conn.url.path
        limited = path.startswith(LIMITED_PATHS) or (
            method == "POST" and path.startswith(GRADIO_CALLS)
        )
        local = principal is not None and principal.via == "local"
        if limited and not local and not self.limiter.allow(self.policy.client_id(conn)):
            per_minute = self.limiter.per_minute  # counted before the key is checked: guesses too
            return _detail(
                429, f"Too many requests: at most {per_minute} a minute; wait and try again."
            )
        needed = needed_role(method, path)
        if needed is not None and principal is None:
            if method == "GET" and "text/html" in conn.headers.get("accept", ""):
                return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
            return _detail(
                401,
                "Sign in first: send 'Authorization: Bearer <key>' (keys come from "
                "`qa-bot keys add`) or log in at /login.",
            )
        if needed is not None and principal is not None and not principal.allows(needed):
            return _detail(403, "Only an admin may do this: ask an admin of this qa-bot.")
        cookie_login = principal is not None and principal.via == "session"
        if (cookie_login or path == "/login") and method not in SAFE_METHODS:
            origin = conn.headers.get("origin")
            foreign = origin != _own(conn) and origin not in self.policy.settings.allowed_origins
            if foreign and (origin is not None or cookie_login):
                return _detail(403, "Cross-site request refused: use qa-bot from its own page.")
        return None


def names_foreign_file(body: bytes) -> bool:
    """True when a Gradio request names a file outside Gradio's upload folder (or a remote
    URL): mounted apps skip Gradio's own check and would copy any server path it names."""
    try:
        data = json.loads(body)
    except ValueError:
        return False  # not JSON: Gradio rejects it itself
    folder = Path(get_upload_folder()).resolve()
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            is_file = "path" in item or (item.get("meta") or {}).get("_type") == "gradio.FileData"
            if is_file:
                path = Path(str(item.get("path") or "/"))
                if path.is_symlink() or not path.resolve().is_relative_to(folder):
                    return True
            stack.extend(item.values())
    return False


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the already-read body, then passes on what the client
    does next (a disconnect, which streaming responses listen for)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def login_page(next_path: str, message: str = "") -> str:
    """The chat's login form (the key is posted to /login and traded for a cookie)."""
    note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>qa-bot · sign in</title><meta name="viewport" content="width=device-width">
<style>body{{font:16px system-ui;max-width:26rem;margin:4rem auto;padding:0 1rem}}
input,button{{font:inherit;padding:.4rem;width:100%;margin:.3rem 0}}</style></head>
<body><h1>qa-bot</h1>{note}<form method="post" action="/login">
<label>Access key <input name="key" type="password" autocomplete="current-password" required
autofocus></label><input type="hidden" name="next" value="{html.escape(safe_next(next_path))}">
<button type="submit">Sign in</button></form></body></html>"""


def safe_next(value: Any) -> str:
    """A same-site path to go to after logging in ("/" when the value is anything else)."""
    text = str(value or "/")
    return text if text.startswith("/") and not text.startswith("//") else "/"
