"""`tindak recs list|update|verify|history`."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime, time
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from tindak import recs as service
from tindak.calendar import parse_date

recs_app = typer.Typer(help="List recommendations, record progress, verify completion.",
                       no_args_is_help=True)

LIST_FIELDS = ["ref", "forum", "unit", "owner", "text", "category", "priority", "deadline",
               "status", "progress", "overdue", "days_overdue"]


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def as_of_instant(as_of: str | None) -> datetime | None:
    """--as-of DATE: that date's morning (07:30 WIB; units further east are already awake)."""
    if not as_of:
        return None
    day = parse_date(as_of)
    return datetime.combine(day, time(7, 30), ZoneInfo("Asia/Jakarta")).astimezone(UTC)


@recs_app.command("list")
def list_cmd(
    status: str | None = typer.Option(None, help="Only this status (open, in_progress, "
                                      "awaiting_verification, completed, not_actionable)."),
    overdue: bool = typer.Option(False, "--overdue", help="Only overdue items."),
    owner: str | None = typer.Option(None, help="Only items of this owner (email)."),
    unit: str | None = typer.Option(None, help="Only this unit (code) and the units below it."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv."),
    as_of: str | None = typer.Option(None, "--as-of", help="Judge overdue as on this date."),
) -> None:
    """List recommendations with their status, progress and whether they are overdue."""
    rows = service.list_recs(
        service.RecFilter(status=status, overdue=overdue, owner=owner, unit=unit),
        now=as_of_instant(as_of),
    )
    out = sys.stdout
    if fmt is Format.json:
        out.write("[")
        for i, row in enumerate(rows):
            out.write(("," if i else "") + "\n" + json.dumps(
                {k: row[k] for k in LIST_FIELDS}, ensure_ascii=False))
        out.write("\n]\n")
    elif fmt is Format.csv:
        w = csv.writer(out)
        w.writerow(LIST_FIELDS)
        for row in rows:
            w.writerow([str(row[k]).lower() if isinstance(row[k], bool) else row[k]
                        for k in LIST_FIELDS])
    else:
        _table(rows)


def _table(rows) -> None:  # type: ignore[no-untyped-def]
    cols = [("ref", 14), ("unit", 10), ("owner", 26), ("deadline", 10), ("status", 21),
            ("progress", 4), ("late", 5), ("text", 50)]
    print("  ".join(name.upper().ljust(width) for name, width in cols).rstrip())
    n = 0
    for r in rows:
        n += 1
        cells = [r["ref"], r["unit"], r["owner"], r["deadline"], r["status"],
                 f"{r['progress']}%", f"{r['days_overdue']}d" if r["overdue"] else "",
                 " ".join(r["text"].split())]
        print("  ".join(str(c)[:w].ljust(w) for c, (_, w) in zip(cells, cols, strict=True))
              .rstrip())
    print(f"({n} item{'s' if n != 1 else ''})")


@recs_app.command("update")
def update_cmd(
    ref: str = typer.Argument(..., help="The recommendation's ref."),
    by: str = typer.Option(..., "--by", help="Email of the person reporting (owner or planner)."),
    progress: int | None = typer.Option(None, help="New progress, 0–100."),
    status: str | None = typer.Option(None, help="New status: in_progress, "
                                      "awaiting_verification or not_actionable."),
    note: str | None = typer.Option(None, help="What was done (a reason for not_actionable)."),
    evidence: str | None = typer.Option(None, help="Evidence: a link (https://…) or a file."),
    public: bool = typer.Option(False, "--public", help="Show the note on the public page."),
) -> None:
    """Record a progress update on a recommendation."""
    ev = None
    if evidence:
        ev = (service.Evidence(url=evidence) if evidence.startswith(("http://", "https://"))
              else service.Evidence(path=Path(evidence)))
    res = service.update_rec(ref, by, progress=progress, status=status, note=note,
                             evidence=ev, public=public)
    print(f"{res['ref']}: {res['status']}, {res['progress']}%")


@recs_app.command("verify")
def verify_cmd(
    ref: str = typer.Argument(..., help="The recommendation's ref."),
    by: str = typer.Option(..., "--by", help="Email of the verifying planner."),
    reject: bool = typer.Option(False, "--reject", help="Reject: back to in_progress."),
    note: str | None = typer.Option(None, help="Why (required with --reject)."),
) -> None:
    """Accept (→ completed) or reject (→ in_progress) an item awaiting verification."""
    res = service.verify_rec(ref, by, reject=reject, note=note)
    print(f"{res['ref']}: {res['status']}, {res['progress']}%")


@recs_app.command("history")
def history_cmd(ref: str = typer.Argument(..., help="The recommendation's ref.")) -> None:
    """Show every progress update of a recommendation, with who made it."""
    for h in service.history(ref):
        at = h["at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        bits = [h["kind"], h["status"] or "", f"{h['progress']}%" if h["progress"] is not None
                else "", h["note"] or "", h["evidence_url"] or h["evidence_name"] or ""]
        print(f"{at}  {h['by']}  " + "  ".join(b for b in bits if b))


def register(app: typer.Typer) -> None:
    app.add_typer(recs_app, name="recs")
