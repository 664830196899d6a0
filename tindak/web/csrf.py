"""CSRF: every form carries its session's token, checked in constant time on POST."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from starlette.datastructures import FormData

from tindak.errors import N_, Forbidden


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use (visitors and owners get one too)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def checked_form(request: Request) -> FormData:
    """The POSTed form, refused (403) unless it carries this session's CSRF token."""
    form = await request.form(max_files=20, max_fields=200)
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    if not (isinstance(sent, str) and expected and hmac.compare_digest(sent, str(expected))):
        raise Forbidden(N_("the form has expired or did not come from this site: reload the page "
                        "and try again"))
    return form
