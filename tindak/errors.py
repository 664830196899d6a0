"""One exception family. Raised inside; translated at the edge (CLI line, HTTP status)."""

from __future__ import annotations

from collections.abc import Callable


def N_(message: str) -> str:  # noqa: N802 - gettext's "mark now, translate at the edge"
    return message


class Msg:
    """A line not yet worded: an English msgid and its named parameters (like an error's).

    A parameter may itself be a Msg, an `Edge` or a list of them (joined with '; '): each is
    worded in the same language when the line is.
    """

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, /, **params: object) -> None:
        self.msgid, self.params = msgid, params

    def __str__(self) -> str:
        return word(self, lambda m: m, "cli")

    def __repr__(self) -> str:
        return f"Msg({self.msgid!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class Edge:
    """Words that differ per edge: the CLI names a flag (`--note`), a page names a field."""

    __slots__ = ("cli", "web")

    def __init__(self, cli: str, web: str) -> None:
        self.cli, self.web = cli, web


def word(message: object, translate: Callable[[str], str], edge: str = "cli") -> str:
    """`message` (a Msg, an error, an Edge, a list of them, or anything else) as one line,
    each msgid translated by `translate` and its parameters filled in."""
    if isinstance(message, Edge):
        return translate(message.web if edge == "web" else message.cli)
    if isinstance(message, (list, tuple)):
        return "; ".join(word(m, translate, edge) for m in message)
    msgid = getattr(message, "msgid", None)
    if not msgid:
        return str(message)
    params = {k: word(v, translate, edge) if isinstance(v, (Msg, Edge, list, tuple, TindakError))
              else v for k, v in (getattr(message, "params", None) or {}).items()}
    text = translate(msgid)
    try:
        return text % params if params else text
    except (KeyError, TypeError, ValueError):  # a catalog entry that lost a placeholder
        return msgid % params if params else msgid


class TindakError(Exception):
    """Base of every error a user may see. Its message is one clear line.

    Raise with an English msgid marked by `N_` and named `%(...)s` parameters:
    `InvalidInput(N_("progress must be between 0 and 100, not %(value)s"), value=150)`.
    `str(exc)` is the English line; each edge words it in the person's language with
    `tindak.i18n.error_text(exc, lang)` (the catalog's translation, parameters filled in).
    """

    http_status = 400

    def __init_subclass__(cls, http_status: int | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if http_status is not None:
            cls.http_status = http_status

    def __init__(self, message: str = "", /, **params: object) -> None:
        self.msgid = message
        self.params = params
        super().__init__(word(self, lambda m: m, "cli") if params else message)


class ConfigError(TindakError, http_status=500):
    """A setting is missing or wrong."""


class NotFound(TindakError, http_status=404):
    """A unit, person, forum or recommendation that does not exist."""


class Forbidden(TindakError, http_status=403):
    """The acting person may not do this."""


class InvalidInput(TindakError, http_status=422):
    """Input that breaks a rule of the domain (bad status change, bad value)."""


class SchemaError(TindakError, http_status=500):
    """The database schema does not match this version of Tindak."""


class DeliveryError(TindakError, http_status=502):
    """Mail could not be delivered (the messages stay queued)."""


class ImportFailed(TindakError):
    """An import was refused; `errors` lists every problem as FILE:ROW: column: reason
    (in English; `lines(lang, edge)` words them in the person's language)."""

    def __init__(self, errors: list[object], count: int | None = None):
        self.items = list(errors)  # Msg lines, or plain strings
        self.errors = [str(e) for e in self.items]
        super().__init__(N_("import refused: %(count)s error(s), nothing was written"),
                         count=len(errors) if count is None else count)

    def lines(self, gettext: Callable[[str], str] = lambda m: m,
              edge: str = "cli") -> list[str]:
        return [word(e, gettext, edge) for e in self.items]
