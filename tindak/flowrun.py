"""Run a flow once from the command line, through Prefect, and say what happened."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tindak.errors import N_, InvalidInput, Msg
from tindak.runtime import configure_prefect
from tindak.settings import TIMEZONES, get_settings


def latest_today(now: datetime | None = None) -> date:
    """Today's date in the unit timezone furthest east (every timezone if there is no unit)."""
    import sqlalchemy as sa

    from models import Unit, session

    with session() as s:
        zones = [tz for (tz,) in s.execute(sa.select(Unit.timezone).distinct())] or TIMEZONES
    from tindak.calendar import local_today

    now = now or datetime.now(UTC)
    return max(local_today(tz, now) for tz in zones)


def check_as_of(as_of: date | None, allow_future: bool, now: datetime | None = None) -> None:
    """Refuse a run dated after today everywhere: its notices would be recorded as sent, so
    the real reminders of the days between would never go out."""
    if as_of is None or allow_future:
        return
    today = latest_today(now)
    if as_of > today:
        raise InvalidInput(
            N_("--as-of %(date)s is after today (%(today)s in the units furthest east): a "
               "run dated in the future records its reminders as sent, so the real ones of "
               "the days between would never go out; give --allow-future only on a demo or "
               "scratch database"), date=as_of.isoformat(), today=today.isoformat())


def run_flow(name: str, as_of: date | None, timezones: list[str] | None,
             allow_future: bool = False) -> dict:
    """Run the daily or digest flow in this process (Prefect's ephemeral API, or a server's).
    A date after today is refused unless `allow_future` (demos and scratch databases)."""
    from models import get_engine

    get_engine()  # schema first: a clear error before Prefect starts
    check_as_of(as_of, allow_future)
    configure_prefect(quiet=True)
    if name == "daily":
        from flows.daily import daily_followup

        return daily_followup(as_of=as_of, timezones=timezones)
    from flows.digest import weekly_digest

    return weekly_digest(as_of=as_of, timezones=timezones)


def describe(summary: dict) -> tuple[list[Msg], bool]:
    """Lines for the user (worded by the edge: `str()` is English), and whether every
    message was delivered."""
    lines: list[Msg] = []
    if "notices" in summary:
        lines.append(Msg(N_("checked %(items)s active item(s); planned %(notices)s notice(s)"),
                         items=summary["items"], notices=summary["notices"]))
        if summary.get("unaddressed"):
            lines.append(Msg(N_("  %(count)s escalation(s) had nobody to go to: give the "
                                "owners a supervisor or the unit a leader"),
                             count=summary["unaddressed"]))
    if "leaders" in summary:
        lines.append(Msg(N_("digests: %(messages)s queued for %(leaders)s leader(s), "
                            "%(skipped)s already queued this week"),
                         messages=summary["messages"], leaders=summary["leaders"],
                         skipped=summary["skipped"]))
    elif "messages" in summary:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary.get("by_kind", {}).items()))
        if kinds:
            lines.append(Msg(N_("queued %(count)s message(s) (%(kinds)s)"),
                             count=summary["messages"], kinds=kinds))
        else:
            lines.append(Msg(N_("queued %(count)s message(s)"), count=summary["messages"]))
    d = summary.get("delivery") or {}
    if d.get("mode") == "eml":
        lines.append(Msg(N_("no SMTP host set (TINDAK_SMTP_HOST): wrote %(count)s .eml "
                            "file(s) to %(folder)s"),
                         count=d.get("eml_written", 0), folder=str(get_settings().outbox_dir)))
    else:
        lines.append(Msg(N_("delivered: %(sent)s sent, %(failed)s failed (will retry), "
                            "%(unknown)s unknown, %(left)s still queued"),
                         sent=d.get("sent", 0), failed=d.get("failed", 0),
                         unknown=d.get("unknown", 0), left=d.get("pending_left", 0)))
    for err in d.get("errors", [])[:5]:
        lines.append(Msg("  %(error)s", error=err))
    if d.get("unknown"):
        lines.append(Msg(N_("  messages in doubt are not resent: `tindak outbox list "
                            "--status unknown`")))
    ok = not (d.get("failed") or d.get("unknown") or d.get("dead") or d.get("stopped"))
    return lines, ok
