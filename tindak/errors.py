"""One exception family. Raised inside; translated at the edge (CLI line, HTTP status)."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - gettext's "mark now, translate at the edge"
    return message


class TindakError(Exception):
    """Base of every error a user may see. Its message is one clear line.

    Raise with an English msgid marked by `N_` and named `%(...)s` parameters:
    `InvalidInput(N_("progress must be between 0 and 100, not %(value)s"), value=150)`.
    `str(exc)` is the English line; each edge words it in the person's language with
    `tindak.i18n.error_text(exc, lang)` (the catalog's translation, parameters filled in).
    """

    http_status = 400

    def __init__(self, message: str = "", /, **params: object) -> None:
        self.msgid = message
        self.params = params
        super().__init__(message % params if params else message)


class ConfigError(TindakError):
    """A setting is missing or wrong."""

    http_status = 500


class NotFound(TindakError):
    """A unit, person, forum or recommendation that does not exist."""

    http_status = 404


class Forbidden(TindakError):
    """The acting person may not do this."""

    http_status = 403


class InvalidInput(TindakError):
    """Input that breaks a rule of the domain (bad status change, bad value)."""

    http_status = 422


class SchemaError(TindakError):
    """The database schema does not match this version of Tindak."""

    http_status = 500


class DeliveryError(TindakError):
    """Mail could not be delivered (the messages stay queued)."""

    http_status = 502


class ImportFailed(TindakError):
    """An import was refused; `errors` lists every problem as FILE:ROW: column: reason."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(N_("import refused: %(count)s error(s), nothing was written"),
                         count=len(errors))
