"""The import upload: the CLI's importer on the uploaded files, for the planners allowed to
run it: only a planner of a top unit (one without a parent) may upload, and the import
writes only inside that organisation's tree; everyone else registers forums by form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models import Unit, session
from tindak.directory import has_role, person_by_email
from tindak.errors import N_, Forbidden

IMPORT_TYPES = frozenset({".csv", ".xlsx", ".docx"})  # .docx: a Berita Acara (SPEC §8)
IMPORT_MAX_BYTES = 10 * 1024 * 1024


def may_import(email: str) -> bool:
    with session() as s:
        person = person_by_email(s, email)
        unit = s.get(Unit, person.unit_id)
        return has_role(person, "planner") and unit is not None and unit.parent_id is None


def run_import(paths: list[Path], dry_run: bool, by: str) -> dict[str, Any]:
    """Import (or check, with dry_run) the files; the report as plain data for the page.

    Raises ImportFailed with every error as FILE:ROW: column: reason, like the CLI.
    """
    if not may_import(by):
        raise Forbidden(N_("only a planner of a top unit may import files: imports can change "
                        "units and people of the whole organisation"))
    from tindak.importer import import_files

    # The web writes only inside the planner's own organisation; the CLI anywhere.
    report = import_files(paths, dry_run=dry_run, by=by, scope=by)
    if report.invitations:  # participants invited: their mail goes now, as a sign-in's does
        from tindak.outbox import send_soon

        send_soon(report.invitations)
    order = ("units", "people", "forums", "recommendations", "participants")
    return {"counts": [(kind, report.counts[kind].created, report.counts[kind].updated,
                        report.counts[kind].unchanged) for kind in order
                       if kind in report.counts],
            "dry_run": report.dry_run}
