"""What a request sends, read and checked at the edge: ids in paths, form fields, uploads."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam
from starlette.datastructures import FormData, UploadFile

from tindak.errors import N_, InvalidInput

# An id in a path: the database's integer range, or the page does not exist (404), never
# an overflow inside the driver (500).
RowId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


def text_field(form: FormData, name: str, max_len: int = 10_000) -> str:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return ""
    if len(value) > max_len:
        raise InvalidInput(N_("the field '%(name)s' is too long (at most %(max)s characters)"),
                           name=name, max=max_len)
    if "\x00" in value:  # never typed, and PostgreSQL refuses it in text
        raise InvalidInput(N_("the field '%(name)s' contains a NUL character"), name=name)
    return value.strip()


def text_fields(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    """Several text fields at once, by name (a form's whole set)."""
    return {n: text_field(form, n) for n in names}


def upload_field(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value
    return None
