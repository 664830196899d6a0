"""Signed links: owners' links in reminder mail (30 days) and one-time sign-in links (30 min)."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from tindak.errors import N_, Forbidden
from tindak.settings import get_settings

OWNER_SALT = "tindak.owner-link"
LOGIN_SALT = "tindak.login-link"
LOGIN_MAX_AGE = 30 * 60
# The public's loop (SPEC §7): each link has a salt of its own, so one kind of link can
# never be used as another.
SUBSCRIBE_SALT = "tindak.subscribe-link"
SUBSCRIBE_MAX_AGE = 7 * 86400  # a confirmation (or an invitation) waits a week
UNSUBSCRIBE_SALT = "tindak.unsubscribe-link"  # valid while the subscription lasts
ANSWER_SALT = "tindak.answer-link"
ANSWER_MAX_AGE = 90 * 86400


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().signing_key(), salt=salt)


@dataclass(frozen=True)
class _Link:
    """One kind of signed link: its salt, how long it lasts (None: while its object lasts)
    and the two lines a bad one is refused with."""

    salt: str
    max_age: int | None
    expired: str
    invalid: str

    def dumps(self, payload: dict[str, object]) -> str:
        return _serializer(self.salt).dumps(payload)

    def loads(self, token: str, max_age: int | None = None) -> dict:
        """The payload; Forbidden when forged or older than `max_age` (default: the kind's)."""
        if max_age is None:
            max_age = self.max_age
        try:
            data: dict = _serializer(self.salt).loads(token, max_age=max_age)
        except SignatureExpired:
            raise Forbidden(self.expired) from None
        except BadSignature:
            raise Forbidden(self.invalid) from None
        return data


_OWNER = _Link(OWNER_SALT, None,  # max_age from the settings, read when a link is
               N_("this link has expired: use the link in your latest reminder"),
               N_("this link is not valid"))
_LOGIN = _Link(LOGIN_SALT, LOGIN_MAX_AGE,
               N_("this sign-in link has expired: ask for a new one"),
               N_("this sign-in link is not valid"))
_SUBSCRIBE = _Link(SUBSCRIBE_SALT, SUBSCRIBE_MAX_AGE,
                   N_("this confirmation link has expired: subscribe again on the forum's page"),
                   N_("this confirmation link is not valid"))
_UNSUBSCRIBE = _Link(UNSUBSCRIBE_SALT, None, N_("this unsubscribe link is not valid"),
                     N_("this unsubscribe link is not valid"))
_ANSWER = _Link(ANSWER_SALT, ANSWER_MAX_AGE,
                N_("this answer link has expired: use the link in your latest update"),
                N_("this answer link is not valid"))


def owner_token(person_id: int, email: str) -> str:
    """A token that lets one owner see and update their own items, for owner_link_days."""
    return _OWNER.dumps({"p": person_id, "e": email})


def read_owner_token(token: str) -> tuple[int, str]:
    """(person id, email) of a valid owner token; Forbidden when forged or expired."""
    data = _OWNER.loads(token, max_age=get_settings().owner_link_days * 86400)
    return int(data["p"]), str(data["e"])


def owner_url(person_id: int, email: str) -> str | None:
    """The owner's personal page, or None when no TINDAK_BASE_URL is set."""
    base = get_settings().base_url
    return f"{base}/o/{owner_token(person_id, email)}" if base else None


def login_token(email: str, nonce: str) -> str:
    """A one-time sign-in token; `nonce` is stored server-side and burnt on first use."""
    return _LOGIN.dumps({"e": email, "n": nonce})


def read_login_token(token: str) -> tuple[str, str]:
    data = _LOGIN.loads(token)
    return str(data["e"]), str(data["n"])


def subscribe_token(email: str, forum_id: int) -> str:
    """A double opt-in token: it carries the address and the forum, nothing is stored."""
    return _SUBSCRIBE.dumps({"e": email, "f": forum_id})


def read_subscribe_token(token: str) -> tuple[str, int]:
    data = _SUBSCRIBE.loads(token)
    return str(data["e"]), int(data["f"])


def unsubscribe_token(subscriber_id: int, email: str, everything: bool = False) -> str:
    """Ends that subscription (or, `everything`, every subscription of the address) while
    it exists: once it is ended the link does nothing."""
    return _UNSUBSCRIBE.dumps({"s": subscriber_id, "e": email, "a": int(everything)})


def read_unsubscribe_token(token: str) -> tuple[int, str, bool]:
    data = _UNSUBSCRIBE.loads(token)
    return int(data["s"]), str(data["e"]), bool(data.get("a"))


def answer_token(subscriber_id: int, email: str, rec_id: int, verdict: str) -> str:
    return _ANSWER.dumps({"s": subscriber_id, "e": email, "r": rec_id, "v": verdict})


def read_answer_token(token: str) -> tuple[int, str, int, str]:
    data = _ANSWER.loads(token)
    return int(data["s"]), str(data["e"]), int(data["r"]), str(data["v"])
