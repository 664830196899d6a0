"""`tindak import` and `tindak template`."""

from __future__ import annotations

from pathlib import Path

import typer

from tindak.cli.words import say, text
from tindak.errors import N_


def import_cmd(
    paths: list[str] = typer.Argument(..., metavar="PATH...", help="CSV files (UTF-8, ',' or "
                                      "';'), XLSX workbooks and/or Berita Acara (.docx), in "
                                      "any order."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row, write nothing."),
    by: str | None = typer.Option(None, "--by", help="Email of the planner doing the import "
                                  "(recorded in the audit trail)."),
    forum_date: str | None = typer.Option(None, "--forum-date", metavar="DATE", help="A "
                                          "Berita Acara's forum date, if the .docx lacks it."),
    unit: str | None = typer.Option(None, "--unit", metavar="CODE", help="A Berita Acara's "
                                    "organising unit (owners are matched within its tree)."),
    title: str | None = typer.Option(None, "--title", help="A Berita Acara's forum title, "
                                     "if the .docx lacks it."),
) -> None:
    """Import units, people and recommendations (CSV, XLSX, or a Berita Acara in .docx):
    all rows, or none if any row is wrong."""
    from tindak import berita_acara
    from tindak.importer import import_files
    from tindak.validators import parse_date

    opts = berita_acara.Options(parse_date(forum_date) if forum_date else None, unit, title)
    given = [berita_acara.BeritaAcaraPath(p, opts) if p.lower().endswith(".docx") else p
             for p in paths]
    report = import_files(given, dry_run=dry_run, by=by)
    if report.invitations:  # participants invited: sent now (what fails waits for a run)
        from tindak.outbox import send_soon

        send_soon(report.invitations)
    if dry_run:  # each Waktu shown as the date it became
        for path in paths:
            if path.lower().endswith(".docx"):
                for shown in berita_acara.preview(path, opts):
                    print(shown)
    for line in report.lines():
        print(text(line))


def template_cmd(
    path: Path = typer.Argument(..., metavar="PATH.xlsx", help="Where to write the workbook."),
    force: bool = typer.Option(False, "--force", help="Overwrite the file if it exists."),
) -> None:
    """Write an import workbook with headers, an example row, drop-downs and instructions."""
    from tindak.workbook import write_template

    written = write_template(path, overwrite=force)
    say(N_("wrote %(path)s: fill in the sheets units, people and recommendations, then run: "
           "tindak import %(path)s"), path=str(written))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("import")(import_cmd)
    app.command("template")(template_cmd)
