"""The chat's login: an access key traded for a signed session cookie (HttpOnly,
SameSite=Strict; Secure over HTTPS), and logout."""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qa_bot.server.access import CHATS_COOKIE, COOKIE, AccessPolicy

router = APIRouter()


def _policy(request: Request) -> AccessPolicy:
    policy: AccessPolicy = request.app.state.policy
    return policy


@router.get("/login", response_class=HTMLResponse)
def login_form(next: str = "/") -> str:
    """The sign-in form."""
    return login_page(next)


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    """Check the key; on success set the session cookie and go back where the user was."""
    form = await request.form()
    target = safe_next(form.get("next"))
    cookie = _policy(request).session_cookie(str(form.get("key") or ""))
    if cookie is None:
        page = login_page(target, "That key is not valid: check it, or ask an admin for one.")
        return HTMLResponse(page, status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(_policy(request).settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=_policy(request).own_origin(request).startswith("https:"),
    )
    return response


@router.get("/logout")
def logout(request: Request) -> RedirectResponse:
    """Forget the session cookie, and the chats this browser saved (Gradio keeps them in
    local storage, which the next person to sign in here would read otherwise), unless the
    request comes from another site."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    response.delete_cookie(CHATS_COOKIE)
    if request.headers.get("sec-fetch-site", "none") in {"same-origin", "none"}:
        response.headers["clear-site-data"] = '"storage"'
    return response


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
