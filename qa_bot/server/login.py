"""The chat's login: an access key traded for a signed session cookie (HttpOnly,
SameSite=Strict; Secure over HTTPS), and logout."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qa_bot.server.access import COOKIE, AccessPolicy, login_page, safe_next

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
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/logout")
def logout() -> RedirectResponse:
    """Forget the session cookie."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
