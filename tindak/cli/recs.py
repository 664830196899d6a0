"""`tindak recs list|update|verify|extend|history`."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime, time
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from tindak import extensions
from tindak import recs as service
from tindak.calendar import tz_abbr
from tindak.cli import args
from tindak.cli.tables import Col, print_table
from tindak.cli.words import lang, say, t
from tindak.errors import N_, InvalidInput
from tindak.i18n import status_label

recs_app = typer.Typer(help="List recommendations, record progress, verify completion.",
                       no_args_is_help=True)

LIST_FIELDS = ["ref", "forum", "unit", "owner", "text", "category", "priority", "deadline",
               "status", "progress", "overdue", "days_overdue"]
# JSON also says where the deadline came from and how its extension stands (SPEC §7).
JSON_FIELDS = [*LIST_FIELDS, "original_deadline", "extension"]


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def as_of_instant(as_of: str | None) -> datetime | None:
    """--as-of DATE: that date's morning (07:30 WIB; units further east are already awake)."""
    day = args.day(as_of, "--as-of")
    if day is None:
        return None
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
    if owner is not None:
        service.known_owner(owner)  # an unknown email is a typo, not an empty list
    rows = service.list_recs(
        service.RecFilter(status=status, overdue=overdue, owner=owner, unit=unit),
        now=as_of_instant(as_of),
    )
    out = sys.stdout
    if fmt is Format.json:
        out.write("[")
        for i, row in enumerate(rows):
            out.write(("," if i else "") + "\n" + json.dumps(
                {k: row[k] for k in JSON_FIELDS}, ensure_ascii=False))
        out.write("\n]\n")
    elif fmt is Format.csv:
        w = csv.writer(out)
        w.writerow(LIST_FIELDS)
        for row in rows:
            w.writerow([str(row[k]).lower() if isinstance(row[k], bool) else row[k]
                        for k in LIST_FIELDS])
    else:
        _table(list(rows))


def _left_out(titles: list[str]) -> None:
    if titles:
        say(N_("(left out to fit the terminal: %(columns)s; widen it or use --format csv)"),
            columns=", ".join(titles))


def _table(rows: list[dict]) -> None:
    language = lang()
    cols = [Col(t(N_("REF")), key=True), Col(t(N_("UNIT")), drop=3),
            Col(t(N_("OWNER")), drop=5), Col(t(N_("DEADLINE")), key=True),
            Col(t(N_("STATUS"))), Col("%", justify="right", key=True),
            Col(t(N_("LATE")), drop=2), Col(t(N_("TEXT")), drop=6)]
    left = print_table(cols, ([
        r["ref"], r["unit"], r["owner"], r["deadline"], status_label(r["status"], language),
        f"{r['progress']}%", t(N_("%(days)sd"), days=r["days_overdue"]) if r["overdue"] else "",
        r["text"]] for r in rows))
    _left_out(left)
    say(N_("(%(count)s item(s))"), count=len(rows))


def _done(res: dict) -> None:
    say(N_("%(ref)s: %(status)s, %(progress)s%%"), ref=res["ref"],
        status=status_label(res["status"], lang()), progress=res["progress"])


@recs_app.command("update")
def update_cmd(
    ref: str = typer.Argument(..., help="The recommendation's ref (any case)."),
    by: str = typer.Option(..., "--by", help="Email of the person reporting (owner or planner)."),
    progress: int | None = typer.Option(None, help="New progress, 0–100."),
    status: str | None = typer.Option(None, help="New status: in_progress, "
                                      "awaiting_verification or not_actionable."),
    note: str | None = typer.Option(None, help="What was done (a reason for not_actionable)."),
    evidence: str | None = typer.Option(None, help="Evidence: a link (https://…) or a file."),
    public: bool = typer.Option(False, "--public", help="Show the note on the public page."),
) -> None:
    """Record a progress update on a recommendation."""
    args.text(note, "--note", 5000)
    ev = None
    if evidence is not None:
        ev = (service.Evidence(url=evidence) if evidence.startswith(("http://", "https://"))
              else service.Evidence(path=Path(evidence)))
    res = service.update_rec(ref, by, progress=progress, status=status, note=note,
                             evidence=ev, public=public)
    _done(res)


@recs_app.command("verify")
def verify_cmd(
    ref: str = typer.Argument(..., help="The recommendation's ref (any case)."),
    by: str = typer.Option(..., "--by", help="Email of the verifying planner."),
    reject: bool = typer.Option(False, "--reject", help="Reject: back to in_progress."),
    note: str | None = typer.Option(None, help="Why (required with --reject)."),
) -> None:
    """Accept (→ completed) or reject (→ in_progress) an item awaiting verification."""
    args.text(note, "--note", 5000)
    _done(service.verify_rec(ref, by, reject=reject, note=note))


@recs_app.command("extend")
def extend_cmd(
    ref: str = typer.Argument(..., help="The recommendation's ref (any case)."),
    by: str = typer.Option(..., "--by", help="Email of the person asking (owner or planner) "
                           "or deciding (another planner of the unit's tree)."),
    until: str | None = typer.Option(None, "--until", help="Ask for this new deadline."),
    reason: str | None = typer.Option(None, "--reason", help="Why (required to ask)."),
    approve: bool = typer.Option(False, "--approve", help="Approve the waiting request."),
    reject: bool = typer.Option(False, "--reject", help="Reject it (give --note)."),
    note: str | None = typer.Option(None, help="The decision's note (required with --reject)."),
) -> None:
    """Ask for a later deadline, or approve or reject the request waiting on an item. The
    deadline in force moves only on approval, by a planner who neither asked nor owns it."""
    args.text(reason, "--reason", 2000)
    args.text(note, "--note", 5000)
    asked = until is not None or reason is not None
    if sum((asked, approve, reject)) != 1:
        raise InvalidInput(N_("say one thing: --until DATE --reason TEXT to ask, --approve or "
                              "--reject --note TEXT to decide"))
    if asked:
        res = extensions.request_extension(ref, extensions.parse_until(until), reason, by)
        say(N_("%(ref)s: extension to %(until)s asked for; the deadline in force stays "
               "%(deadline)s until a planner decides"), ref=res["ref"],
            until=res["extension"]["until"], deadline=res["deadline"])
        return
    res = extensions.decide_extension(ref, by, approve=approve, note=note)
    if approve:
        say(N_("%(ref)s: extension approved; the deadline in force is %(deadline)s (%(email)s "
               "is told by mail)"), ref=res["ref"], deadline=res["deadline"],
            email=res["extension"]["requested_by"])
    else:
        say(N_("%(ref)s: extension rejected; the deadline in force stays %(deadline)s "
               "(%(email)s is told by mail)"), ref=res["ref"], deadline=res["deadline"],
            email=res["extension"]["requested_by"])


KINDS = {"report": N_("report"), "verify": N_("verified"), "reject": N_("rejected"),
         "extend_request": N_("extension asked"), "extend_approve": N_("extension approved"),
         "extend_reject": N_("extension rejected")}


@recs_app.command("history")
def history_cmd(ref: str = typer.Argument(..., help="The recommendation's ref (any case).")
                ) -> None:
    """Show every progress update of a recommendation, with who made it (in its unit's
    local time: WIB, WITA or WIT)."""
    language = lang()
    rows, stored = [], ref
    for h in service.history(ref):
        at = h["at"] if h["at"].tzinfo else h["at"].replace(tzinfo=UTC)
        local = at.astimezone(ZoneInfo(h["tz"]))
        stored = h["ref"]
        rows.append([
            f"{local:%Y-%m-%d %H:%M} {tz_abbr(h['tz'])}", h["by"],
            t(KINDS.get(h["kind"], h["kind"])) + (f" → {h['until'].isoformat()}"
                                                   if h["until"] else ""),
            status_label(h["status"], language) if h["status"] else "",
            f"{h['progress']}%" if h["progress"] is not None else "",
            h["note"] or "", h["evidence_url"] or h["evidence_name"] or ""])
    say(N_("%(ref)s: %(count)s update(s)"), ref=stored, count=len(rows))
    if rows:
        cols = [Col(t(N_("WHEN")), key=True), Col(t(N_("BY")), drop=3), Col(t(N_("WHAT"))),
                Col(t(N_("STATUS"))), Col("%", justify="right", key=True),
                Col(t(N_("NOTE")), drop=4), Col(t(N_("EVIDENCE")), drop=5)]
        _left_out(print_table(cols, rows))


def register(app: typer.Typer) -> None:
    app.add_typer(recs_app, name="recs")
