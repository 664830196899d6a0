"""`tindak import` and `tindak template`."""

from __future__ import annotations

from pathlib import Path

import typer

from tindak.cli.words import say, text
from tindak.errors import N_


def import_cmd(
    paths: list[str] = typer.Argument(..., metavar="PATH...", help="CSV files (UTF-8, ',' or "
                                      "';') and/or XLSX workbooks, in any order."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row, write nothing."),
    by: str | None = typer.Option(None, "--by", help="Email of the planner doing the import "
                                  "(recorded in the audit trail)."),
) -> None:
    """Import units, people and recommendations: all rows, or none if any row is wrong."""
    from tindak.importer import import_files

    report = import_files(paths, dry_run=dry_run, by=by)
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
