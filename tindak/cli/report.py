"""`tindak report`: the Laporan Tindak Lanjut Hasil FKP as PDF or XLSX (SPEC §8)."""

from __future__ import annotations

import typer


def report_cmd(
    path: str = typer.Argument(..., metavar="PATH.pdf|PATH.xlsx",
                               help="Where to write the report; its suffix picks the format."),
    forum: int | None = typer.Option(None, "--forum", metavar="ID", help="Only this forum."),
    unit: str | None = typer.Option(None, "--unit", metavar="CODE",
                                    help="Only this unit and the units below it."),
    start: str | None = typer.Option(None, "--from", metavar="DATE",
                                     help="Only forums held on or after this date."),
    end: str | None = typer.Option(None, "--to", metavar="DATE",
                                   help="Only forums held on or before this date."),
    as_of: str | None = typer.Option(None, "--as-of", metavar="DATE",
                                     help="Count overdue days and rates as of this date."),
) -> None:
    """Write the follow-up report an evaluator asks for: per forum, each recommendation
    with its status, deadlines, completion and evidence; the rates and overdue ages."""
    from tindak.report import write_report
    from tindak.validators import parse_date

    written, report = write_report(
        path, forum_id=forum, unit=unit, start=parse_date(start) if start else None,
        end=parse_date(end) if end else None, as_of=parse_date(as_of) if as_of else None)
    t = report.totals
    print(f"wrote {written}: {len(report.forums)} forum(s), {t.count} recommendation(s), "
          f"implementation rate {t.implementation_rate:.0%}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("report")(report_cmd)
