"""`tindak holidays list|add|cancel`: the working-day calendar."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from tindak import holidays_admin as service
from tindak.calendar import local_today
from tindak.cli import args
from tindak.cli.tables import Col, print_table
from tindak.cli.words import say, t, text
from tindak.errors import N_
from tindak.settings import get_settings

holidays_app = typer.Typer(help="The working-day calendar: national holidays, cuti bersama "
                           "and this office's changes.", no_args_is_help=True)

SOURCES = {"national": N_("national"), "added": N_("added"), "cancelled": N_("cancelled")}
DAY_NAMES = {
    "id": ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


@holidays_app.command("list")
def list_cmd(
    year: int | None = typer.Option(None, help="The year (default: this year, WIB)."),
) -> None:
    """List a year's holidays with their source: national, added or cancelled."""
    settings = get_settings()
    if args.year(year) is None:
        year = local_today(settings.default_timezone, datetime.now(UTC)).year
    assert year is not None
    rows = service.list_holidays(year)
    names = DAY_NAMES[settings.language]
    print_table(
        [Col(t(N_("DATE")), key=True), Col(t(N_("DAY")), key=True), Col(t(N_("SOURCE"))),
         Col(t(N_("NAME"))), Col(t(N_("BY")), drop=1)],
        ([h.day.isoformat(), names[h.day.weekday()], t(SOURCES.get(h.source, h.source)),
          h.name, h.by if h.by and h.source != "national" else ""] for h in rows))
    say(N_("(%(count)s holiday(s) in %(year)s)"), count=len(rows), year=year)


@holidays_app.command("add")
def add_cmd(
    day: str = typer.Argument(..., metavar="DATE", help="YYYY-MM-DD or DD/MM/YYYY."),
    name: str = typer.Argument(..., metavar="NAME", help="The holiday's name."),
    by: str = typer.Option(..., "--by", help="Email of the planner making the change."),
) -> None:
    """Make a working day a holiday (e.g. a regional cuti bersama)."""
    when = args.day(day, "DATE")
    assert when is not None
    print(text(service.add_holiday(when, name, by)))


@holidays_app.command("cancel")
def cancel_cmd(
    day: str = typer.Argument(..., metavar="DATE", help="YYYY-MM-DD or DD/MM/YYYY."),
    by: str = typer.Option(..., "--by", help="Email of the planner making the change."),
) -> None:
    """Make a holiday a working day again (e.g. a cuti bersama this office does not take)."""
    when = args.day(day, "DATE")
    assert when is not None
    print(text(service.cancel_holiday(when, by)))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.add_typer(holidays_app, name="holidays")
