"""`tindak holidays list|add|cancel`: the working-day calendar."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from tindak import holidays_admin as service
from tindak.calendar import local_today, parse_date
from tindak.settings import get_settings

holidays_app = typer.Typer(help="The working-day calendar: national holidays, cuti bersama "
                           "and this office's changes.", no_args_is_help=True)

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
    year = year or local_today(settings.default_timezone, datetime.now(UTC)).year
    rows = service.list_holidays(year)
    names = DAY_NAMES[settings.language]
    for h in rows:
        by = f"  ({h.by})" if h.by and h.source != "national" else ""
        print(f"{h.day.isoformat()}  {names[h.day.weekday()]}  {h.source:<9}  {h.name}{by}")
    print(f"({len(rows)} holiday{'s' if len(rows) != 1 else ''} in {year})")


@holidays_app.command("add")
def add_cmd(
    day: str = typer.Argument(..., metavar="DATE", help="YYYY-MM-DD or DD/MM/YYYY."),
    name: str = typer.Argument(..., metavar="NAME", help="The holiday's name."),
    by: str = typer.Option(..., "--by", help="Email of the planner making the change."),
) -> None:
    """Make a working day a holiday (e.g. a regional cuti bersama)."""
    print(service.add_holiday(parse_date(day), name, by))


@holidays_app.command("cancel")
def cancel_cmd(
    day: str = typer.Argument(..., metavar="DATE", help="YYYY-MM-DD or DD/MM/YYYY."),
    by: str = typer.Option(..., "--by", help="Email of the planner making the change."),
) -> None:
    """Make a holiday a working day again (e.g. a cuti bersama this office does not take)."""
    print(service.cancel_holiday(parse_date(day), by))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.add_typer(holidays_app, name="holidays")
