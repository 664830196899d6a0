"""The signed session cookie (Starlette's SessionMiddleware): signing in and out, and the
one-time flash notice carried to the next page."""

from __future__ import annotations

import secrets
import time

from fastapi import Request

SESSION_COOKIE = "tindak_session"
SESSION_MAX_AGE = 12 * 3600  # one working day; sign in again tomorrow


def sign_in(request: Request, person_id: int) -> None:
    """A fresh session for this person: a new CSRF token, nothing kept from before."""
    lang = request.session.get("lang")
    request.session.clear()
    request.session.update(pid=person_id, csrf=secrets.token_urlsafe(32),
                           at=int(time.time()))
    if lang:
        request.session["lang"] = lang
    request.state._state.pop("viewer", None)  # look the new person up on next use


def sign_out(request: Request) -> None:
    request.session.clear()


def flash(request: Request, key: str, **params: str) -> None:
    """A one-time notice for the next page; base.html words each key in the reader's language."""
    request.session["flash"] = {"key": key, **params}


def pop_flash(request: Request) -> dict[str, str] | None:
    value = request.session.pop("flash", None) if "flash" in request.session else None
    return value if isinstance(value, dict) else None
