"""A progress report from a web form, recorded through recs.update_rec (the same rules as
the CLI): the evidence file is copied to a temporary file with a size cap first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.datastructures import FormData

from tindak import recs
from tindak.errors import N_, InvalidInput
from tindak.web.forms import text_field, upload_field
from tindak.web.uploads import spool_upload, temp_dir


def _progress(raw: str) -> int | None:
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(N_("progress must be a whole number from 0 to 100, not '%(value)s'"),
                           value=raw) from None


upload_name = recs.clean_filename


def report_from_form(ref: str, by: str, form: FormData) -> dict[str, Any]:
    """Record the report in `form` (progress, status, note, public, evidence) on `ref`."""
    progress = _progress(text_field(form, "progress", 10))
    status = text_field(form, "status", 40) or None
    note = text_field(form, "note", 5000) or None
    public = text_field(form, "public", 10) == "1"
    url = text_field(form, "evidence_url", 2000)
    upload = upload_field(form, "evidence")
    with temp_dir() as tmp:
        evidence = None
        if upload is not None:
            path = spool_upload(upload, Path(tmp), recs.EVIDENCE_MAX_BYTES, recs.EVIDENCE_TYPES)
            evidence = recs.Evidence(url=url or None, path=path,
                                     filename=upload_name(upload.filename or ""))
        elif url:
            evidence = recs.Evidence(url=url)
        return recs.update_rec(ref, by, progress=progress, status=status, note=note,
                               evidence=evidence, public=public)
