"""Signed links: owners' links in reminder mail (30 days) and one-time sign-in links (30 min)."""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from tindak.errors import N_, Forbidden
from tindak.settings import get_settings

OWNER_SALT = "tindak.owner-link"
LOGIN_SALT = "tindak.login-link"
LOGIN_MAX_AGE = 30 * 60


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().signing_key(), salt=salt)


def owner_token(person_id: int, email: str) -> str:
    """A token that lets one owner see and update their own items, for owner_link_days."""
    return _serializer(OWNER_SALT).dumps({"p": person_id, "e": email})


def read_owner_token(token: str) -> tuple[int, str]:
    """(person id, email) of a valid owner token; Forbidden when forged or expired."""
    max_age = get_settings().owner_link_days * 86400
    try:
        data = _serializer(OWNER_SALT).loads(token, max_age=max_age)
    except SignatureExpired:
        raise Forbidden(N_("this link has expired: use the link in your latest reminder")) from None
    except BadSignature:
        raise Forbidden(N_("this link is not valid")) from None
    return int(data["p"]), str(data["e"])


def owner_url(person_id: int, email: str) -> str | None:
    """The owner's personal page, or None when no TINDAK_BASE_URL is set."""
    base = get_settings().base_url
    return f"{base}/o/{owner_token(person_id, email)}" if base else None


def login_token(email: str, nonce: str) -> str:
    """A one-time sign-in token; `nonce` is stored server-side and burnt on first use."""
    return _serializer(LOGIN_SALT).dumps({"e": email, "n": nonce})


def read_login_token(token: str) -> tuple[str, str]:
    try:
        data = _serializer(LOGIN_SALT).loads(token, max_age=LOGIN_MAX_AGE)
    except SignatureExpired:
        raise Forbidden(N_("this sign-in link has expired: ask for a new one")) from None
    except BadSignature:
        raise Forbidden(N_("this sign-in link is not valid")) from None
    return str(data["e"]), str(data["n"])


# The public's loop (SPEC §7): each link has a salt of its own, so one kind of link can
# never be used as another.
SUBSCRIBE_SALT = "tindak.subscribe-link"
SUBSCRIBE_MAX_AGE = 7 * 86400  # a confirmation (or an invitation) waits a week
UNSUBSCRIBE_SALT = "tindak.unsubscribe-link"  # valid while the subscription lasts
ANSWER_SALT = "tindak.answer-link"
ANSWER_MAX_AGE = 90 * 86400


def subscribe_token(email: str, forum_id: int) -> str:
    """A double opt-in token: it carries the address and the forum, nothing is stored."""
    return _serializer(SUBSCRIBE_SALT).dumps({"e": email, "f": forum_id})


def read_subscribe_token(token: str) -> tuple[str, int]:
    try:
        data = _serializer(SUBSCRIBE_SALT).loads(token, max_age=SUBSCRIBE_MAX_AGE)
    except SignatureExpired:
        raise Forbidden(N_("this confirmation link has expired: subscribe again on the "
                           "forum's page")) from None
    except BadSignature:
        raise Forbidden(N_("this confirmation link is not valid")) from None
    return str(data["e"]), int(data["f"])


def unsubscribe_token(subscriber_id: int, email: str, everything: bool = False) -> str:
    """Ends that subscription (or, `everything`, every subscription of the address) while
    it exists: once it is ended the link does nothing."""
    return _serializer(UNSUBSCRIBE_SALT).dumps({"s": subscriber_id, "e": email,
                                                "a": int(everything)})


def read_unsubscribe_token(token: str) -> tuple[int, str, bool]:
    try:
        data = _serializer(UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        raise Forbidden(N_("this unsubscribe link is not valid")) from None
    return int(data["s"]), str(data["e"]), bool(data.get("a"))


def answer_token(subscriber_id: int, email: str, rec_id: int, verdict: str) -> str:
    return _serializer(ANSWER_SALT).dumps({"s": subscriber_id, "e": email, "r": rec_id,
                                           "v": verdict})


def read_answer_token(token: str) -> tuple[int, str, int, str]:
    try:
        data = _serializer(ANSWER_SALT).loads(token, max_age=ANSWER_MAX_AGE)
    except SignatureExpired:
        raise Forbidden(N_("this answer link has expired: use the link in your latest "
                           "update")) from None
    except BadSignature:
        raise Forbidden(N_("this answer link is not valid")) from None
    return int(data["s"]), str(data["e"]), int(data["r"]), str(data["v"])
