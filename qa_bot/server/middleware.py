"""The access policy at the door of every request (``AccessMiddleware``): who is asking and
whether they may, the rate limit, CSRF for cookie logins, the body size, and what a Gradio call
may hold (``gradio_payload``)."""

from __future__ import annotations

import re
import time
from collections import OrderedDict, defaultdict, deque
from urllib.parse import quote

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa_bot.server.access import (
    CHATS_COOKIE,
    SAFE_METHODS,
    AccessPolicy,
    Principal,
    needed_role,
)
from qa_bot.server.gradio_payload import PayloadRefused, check_gradio_body

LIMITED_PATHS = ("/api/", "/v1/", "/login")  # and every POST to Gradio
UPLOAD_PATHS = ("/api/documents", "/gradio_api/upload")
GRADIO_CALLS = "/gradio_api/"
GRADIO_MULTIPART = ("/gradio_api/upload", "/gradio_api/process_recording")
DISABLED_PATHS = ("/gradio_api/deep_link",)
"""Gradio routes qa-bot never uses: a deep link copies a session's every value (an admin's
question log too) into a file any caller of the link can load."""
_SESSION_IN_PATH = re.compile(r"/gradio_api/(?:heartbeat|stream)/([^/]+)(?:/|$)")
SESSIONS_KEPT = 50_000
CHAT_PAGE = "/"  # the Gradio app's page: its saved chats live in the browser's storage
CLEAR_STORAGE = (b"clear-site-data", b'"storage"')


class GradioSessions:
    """Whose each Gradio session is: the first caller to name a ``session_hash`` owns it, and
    no other caller may use it (Gradio keeps a session's values and streams its results by
    that hash alone, which the browser picks). The most recently used ``size`` are kept."""

    def __init__(self, size: int = SESSIONS_KEPT) -> None:
        self.size = size
        self.owners: OrderedDict[str, str] = OrderedDict()

    def claim(self, session: str, owner: str) -> bool:
        """True when ``session`` is new (now ``owner``'s) or already ``owner``'s."""
        known = self.owners.get(session)
        if known is None:
            self.owners[session] = owner
            while len(self.owners) > self.size:
                self.owners.popitem(last=False)
            return True
        self.owners.move_to_end(session)
        return known == owner


def _sessions_named(conn: HTTPConnection, envelope: dict[str, object]) -> list[str]:
    """The Gradio sessions a request names: in its query, its path or its JSON body."""
    named = list(conn.query_params.getlist("session_hash"))
    if found := _SESSION_IN_PATH.match(conn.url.path):
        named.append(found[1])
    if isinstance(session := envelope.get("session_hash"), str):
        named.append(session)
    return named


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
        self.sessions = GradioSessions()

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
        envelope: dict[str, object] = {}
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            limit = self.max_upload if conn.url.path.startswith(UPLOAD_PATHS) else self.max_body
            body = await _read_body(receive, limit)
            if body is None:
                await _detail(
                    413, f"The request is too large (at most {limit // 1024} KB): send less."
                )(scope, receive, send)
                return
            refused, envelope = _gradio_refusal(conn.url.path, body)
            if refused is not None:
                await refused(scope, receive, send)
                return
            receive = _replay(body, receive)
        if conn.url.path.startswith(GRADIO_CALLS) and principal is not None:
            sessions = _sessions_named(conn, envelope)
            if not all(self.sessions.claim(s, principal.tag) for s in sessions):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    taken = "That Gradio session is another user's: reload the page."
                    await _detail(403, taken)(scope, receive, send)
                return
        if scope["type"] == "http" and principal is not None and conn.url.path == CHAT_PAGE:
            send = self._chats_kept_for(conn, principal, send)
        await self.app(scope, receive, send)

    def _chats_kept_for(self, conn: HTTPConnection, principal: Principal, send: Send) -> Send:
        """The chat page's ``send``, which makes the browser drop the chats it saved (Gradio
        keeps them in local storage, where anyone later using this browser profile would read
        them) when they were saved for someone else, or for the same person with other groups:
        ``Clear-Site-Data`` is applied before the page runs. The owner's stamp goes with it."""
        owner = self.policy.chats_owner(principal)
        if conn.cookies.get(CHATS_COOKIE) == owner:
            return send
        secure = "; Secure" if self.policy.own_origin(conn).startswith("https:") else ""
        stamp = f"{CHATS_COOKIE}={owner}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"

        async def clearing(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 300:
                headers = list(message.get("headers", []))
                headers += [CLEAR_STORAGE, (b"set-cookie", (stamp + secure).encode("latin-1"))]
                message = {**message, "headers": headers}
            await send(message)

        return clearing

    def _refusal(
        self, conn: HTTPConnection, method: str, principal: Principal | None
    ) -> Response | None:
        path = conn.url.path
        if path.startswith(DISABLED_PATHS):
            return _detail(404, "Not Found")
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
                target = path + (f"?{conn.url.query}" if conn.url.query else "")
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            return _detail(
                401,
                "Sign in first: send 'Authorization: Bearer <key>' (keys come from "
                "`qa-bot keys add`) or log in at /login.",
            )
        if needed is not None and principal is not None and not principal.allows(needed):
            return _detail(403, "Only an admin may do this: ask an admin of this qa-bot.")
        if method not in SAFE_METHODS and _cross_site(conn, principal, self.policy):
            return _detail(403, "Cross-site request refused: use qa-bot from its own page.")
        return None


def _cross_site(conn: HTTPConnection, principal: Principal | None, policy: AccessPolicy) -> bool:
    """True for a request another site's page made with the browser's ambient credentials
    (a login cookie, a proxy's SSO, or just being on this machine); bearer keys and the
    local CLI are not ambient. A cookie login must show its origin; others may omit it."""
    ambient = principal is None or principal.via in {"session", "proxy", "open", "widget"}
    if not ambient:
        return False
    origin = conn.headers.get("origin")
    if origin is None:
        return principal is not None and principal.via == "session"
    return not policy.trusted_origin(conn, origin)


def _gradio_refusal(path: str, body: bytes) -> tuple[Response | None, dict[str, object]]:
    """A 400 for a JSON call to Gradio's API that holds anything but what qa-bot's pages send
    (``gradio_payload``), else None and the call's envelope (empty for other requests and
    for Gradio's multipart uploads)."""
    if not path.startswith(GRADIO_CALLS) or path.startswith(GRADIO_MULTIPART):
        return None, {}
    try:
        return None, check_gradio_body(body)
    except PayloadRefused as refused:
        return _detail(400, f"Refused: {refused}."), {}


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
