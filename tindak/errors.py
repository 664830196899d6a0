"""One exception family. Raised inside; translated at the edge (CLI line, HTTP status)."""

from __future__ import annotations


class TindakError(Exception):
    """Base of every error a user may see. Its message is one clear line."""

    http_status = 400


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
        super().__init__(f"import refused: {len(errors)} error(s), nothing was written")
