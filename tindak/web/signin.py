"""One-time sign-in links: made for a person, mailed through the outbox, burnt on first use."""

from __future__ import annotations

import re
import secrets
from email.utils import make_msgid, parseaddr
from typing import Any, cast
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import col

from models import (
    LoginNonce,
    OutboxStatus,
    Person,
    insert_messages,
    session,
    utcnow,
    write_session,
)
from tindak.directory import normalize_email, person_by_email
from tindak.errors import N_, Forbidden, NotFound
from tindak.i18n import translator
from tindak.links import LOGIN_MAX_AGE, login_token, read_login_token
from tindak.settings import get_settings

# The whole authority must be local: Python reads "evil.example\@localhost" as localhost,
# a browser as evil.example (a backslash is a slash to it).
LOCAL_NETLOC = re.compile(r"(127\.0\.0\.1|localhost|\[::1\]|testserver)(:[0-9]{1,5})?")


def login_url(email: str, base: str) -> str:
    """A fresh one-time sign-in URL for an existing person (its nonce stored unused)."""
    nonce = secrets.token_hex(16)
    with write_session() as s:
        person = person_by_email(s, email)
        s.add(LoginNonce(nonce=nonce, email=person.email))
    return f"{base.rstrip('/')}/masuk/{login_token(person.email, nonce)}"


def link_base(request_base: str) -> str | None:
    """Where links in mail point: TINDAK_BASE_URL, else this server only when it is local.

    A public server without TINDAK_BASE_URL would take the Host header on trust, and
    anyone could have sign-in links mailed that point to their own site.
    """
    base = get_settings().base_url
    if base:
        return base
    local = LOCAL_NETLOC.fullmatch(urlsplit(request_base).netloc)
    return request_base.rstrip("/") if local else None


def request_login(email: str, base: str | None, lang: str) -> int | None:
    """Queue a sign-in mail (outbox kind "login") when `email` is a person: its outbox id,
    for the caller to send at once (`outbox.send_soon`); None otherwise.

    The caller answers the same whatever this returns, so nobody learns who has an account.
    """
    email = normalize_email(email)
    if not email or base is None:
        return None
    with session() as s:
        known = s.execute(sa.select(col(Person.id)).where(col(Person.email) == email)).first()
    if known is None:
        return None
    url = login_url(email, base)
    t = translator(lang)
    from tindak.web.render import render_text

    ctx = {"lang": t.lang, "url": url, "minutes": LOGIN_MAX_AGE // 60}
    domain = parseaddr(get_settings().mail_from)[1].partition("@")[2] or "localhost"
    key = f"login:{secrets.token_hex(16)}"
    with write_session() as s:
        ids = insert_messages(s, [dict(
            key=key, kind="login", on_date=utcnow().date(),
            recipient=email, cc="", subject=t.gettext("Your Tindak sign-in link"),
            body_text=render_text("mail/login.txt", **ctx),
            body_html=render_text("mail/login.html", **ctx),
            message_id=make_msgid(domain=domain), status=OutboxStatus.pending.value,
            attempts=0, created_at=utcnow(),
        )])
    return ids[key]


def consume_login(token: str) -> int:
    """The person id of a valid, unused sign-in token, burning it; Forbidden otherwise."""
    email, nonce = read_login_token(token)  # the signature carries the 30-minute expiry
    with write_session() as s:
        # One UPDATE decides: of two clicks at once, only one sees a row change.
        burnt = cast(sa.CursorResult[Any], s.execute(
            sa.update(LoginNonce)
            .where(col(LoginNonce.nonce) == nonce, col(LoginNonce.email) == email,
                   col(LoginNonce.used_at).is_(None))
            .values(used_at=utcnow())
        )).rowcount  # an UPDATE's result is a CursorResult
        if burnt != 1:
            raise Forbidden(N_("this sign-in link has already been used: ask for a new one"))
        try:
            person = person_by_email(s, email)
        except NotFound:
            raise Forbidden(N_("this sign-in link is not valid")) from None
        assert person.id is not None  # a stored row
        return person.id


def check_login(token: str) -> str:
    """The email of a sign-in token that is still usable, without burning it (confirm page)."""
    email, nonce = read_login_token(token)
    with session() as s:
        row = s.execute(sa.select(col(LoginNonce.used_at)).where(
            col(LoginNonce.nonce) == nonce, col(LoginNonce.email) == email)).first()
    if row is None:
        raise Forbidden(N_("this sign-in link is not valid"))
    if row[0] is not None:
        raise Forbidden(N_("this sign-in link has already been used: ask for a new one"))
    return email
