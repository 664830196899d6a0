"""Run a flow once from the command line, through Prefect, and say what happened.

`describe` words a run's summary; the CLI prints those lines, and the flow itself gives
the same lines to Prefect (its state message and its artifact, `story`), so the terminal
and the Prefect UI tell the same story.
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from models import Outbox, Unit, get_engine, session, table_of
from tindak import control
from tindak.calendar import local_today
from tindak.database import migrate
from tindak.errors import N_, InvalidInput, Msg
from tindak.runtime import configure_prefect, no_heartbeat, running_serve, ui_url
from tindak.scheduler import entrypoint, load_flow
from tindak.settings import TIMEZONES, fingerprint, get_settings

MAX_LISTED = 100  # messages listed in a run's artifact; the rest are counted


def latest_today(now: datetime | None = None) -> date:
    """Today's date in the unit timezone furthest east (every timezone if there is no unit)."""
    with session() as s:
        zones = [tz for (tz,) in s.execute(sa.select(col(Unit.timezone)).distinct())] or TIMEZONES
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
    """Run the daily or digest flow in this process: on the Prefect server of
    PREFECT_API_URL or of a running `tindak serve`, else on an ephemeral API."""
    migrate()  # schema first: a clear error before Prefect starts
    check_as_of(as_of, allow_future)  # a date after today only when the person says so
    served = _on_serve(name, as_of, timezones)
    if served is not None:
        return served
    imported = "prefect" in sys.modules  # then Prefect has read its settings already
    api = configure_prefect(quiet=True, find_server=True)
    run = load_flow(entrypoint("daily" if name == "daily" else "digest"))
    with _on_server(api if imported else None), no_heartbeat():
        state = run(as_of=as_of, timezones=timezones, return_state=True)
    summary: dict = state.result()
    if api is not None:
        summary["prefect_run_url"] = ui_url(api, state.state_details.flow_run_id)
    return summary


def _on_serve(name: str, as_of: date | None, timezones: list[str] | None) -> dict | None:
    """The run, done by this home's running `tindak serve` (warm: no Prefect start-up
    here); None when there is none, or it declines (other settings, another server named
    in PREFECT_API_URL): then this process runs the flow."""
    settings = get_settings()
    info = running_serve(settings.prefect_home)
    if not info or not info.get("control_url"):
        return None
    explicit = os.environ.get("PREFECT_API_URL")
    if explicit and explicit.rstrip("/") != str(info["api_url"]).rstrip("/"):
        return None
    try:
        return control.ask(str(info["control_url"]), str(info.get("control_token")), name,
                           as_of, timezones, settings.language, fingerprint(settings))
    except control.Unreachable:
        return None


def _on_server(api: str | None) -> Any:
    """Prefect imported before the server was found (a test process) reads no environment:
    point it at the server for this run (costs ~1 s of pydantic: only when needed)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings  # after configure_prefect

    if api is None or PREFECT_API_URL.value() == api:
        return nullcontext()
    return temporary_settings(updates={PREFECT_API_URL: api})


def describe(summary: dict) -> tuple[list[Msg | str], bool]:
    """Lines for the user (worded by the edge: `str()` is English), and whether every
    message was delivered."""
    lines: list[Msg | str] = []
    if "notices" in summary:
        lines.append(Msg(N_("checked %(items)s active item(s); planned %(notices)s notice(s)"),
                         items=summary["items"], notices=summary["notices"]))
        if summary.get("unaddressed"):
            refs = [str(r) for r in (summary.get("unaddressed_refs") or [])[:20]]
            more = summary["unaddressed"] - len(refs)
            named = (" (" + ", ".join(refs) + (f", +{more}" if more > 0 else "") + ")"
                     if refs else "")
            lines.append(Msg(N_("  %(count)s escalation(s) had nobody above the owner to go "
                                "to%(named)s: give those owners a supervisor or their unit a "
                                "leader"), count=summary["unaddressed"], named=named))
    if "leaders" in summary:
        lines.append(Msg(N_("digests: %(messages)s queued for %(leaders)s leader(s), "
                            "%(skipped)s already queued this week"),
                         messages=summary["messages"], leaders=summary["leaders"],
                         skipped=summary["skipped"]))
        if summary.get("public_updates"):
            lines.append(Msg(N_("public updates: %(count)s queued for subscribers"),
                             count=summary["public_updates"]))
    elif "messages" in summary:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary.get("by_kind", {}).items()))
        if kinds:
            lines.append(Msg(N_("queued %(count)s message(s) (%(kinds)s)"),
                             count=summary["messages"], kinds=kinds))
        else:
            lines.append(Msg(N_("queued %(count)s message(s)"), count=summary["messages"]))
    d = summary.get("delivery") or {}
    if "delivery" not in summary:
        lines.append(Msg(N_("not delivered in this run: the messages stay queued")))
    elif d.get("mode") == "eml":
        lines.append(Msg(N_("no SMTP host set (TINDAK_SMTP_HOST): wrote %(count)s .eml "
                            "file(s) to %(folder)s"),
                         count=d.get("eml_written", 0), folder=str(get_settings().outbox_dir)))
    else:
        lines.append(Msg(N_("delivered: %(sent)s sent, %(failed)s failed (will retry), "
                            "%(unknown)s unknown, %(left)s still queued"),
                         sent=d.get("sent", 0), failed=d.get("failed", 0),
                         unknown=d.get("unknown", 0), left=d.get("pending_left", 0)))
        if more := _more(d):
            lines.append("  also: " + more)
    for err in d.get("errors", [])[:5]:
        lines.append(Msg("  %(error)s", error=err))
    if d.get("unknown"):
        lines.append(Msg(N_("  messages in doubt are not resent: `tindak outbox list "
                            "--status unknown`")))
    if summary.get("prefect_run_url"):
        lines.append(Msg(N_("Prefect flow run: %(url)s"), url=summary["prefect_run_url"]))
    ok = not (d.get("failed") or d.get("unknown") or d.get("dead") or d.get("stopped"))
    return lines, ok


def _more(d: dict) -> str:
    """What the one line of counts would otherwise hide (each part only when it happened)."""
    parts = []
    if d.get("dead"):
        parts.append(f"{d['dead']} dead (`tindak outbox list --status dead`)")
    if d.get("partly_sent"):
        parts.append(f"{d['partly_sent']} reached only some recipients")
    if d.get("in_flight_left"):
        parts.append(f"{d['in_flight_left']} still claimed (the next run recovers them)")
    if d.get("unmarked"):
        parts.append(f"{d['unmarked']} handled but not recorded (shown as unknown later, "
                     "never resent)")
    return ", ".join(parts)


def headline(summary: dict) -> str:
    """The run in one line (the flow's final state message): describe's main lines."""
    lines = [str(line) for line in describe(summary)[0]]
    return "; ".join(line for line in lines if not line.startswith(" "))


def story(summary: dict, title: str) -> str:
    """The run as Markdown for its Prefect artifact: describe's lines, then each message
    this run delivered, failed or left in doubt, with its recipients."""
    lines = [str(line) for line in describe(summary)[0]]
    out = [f"# {_md(title)}", ""]
    for line in lines:
        indent = "  " if line.startswith(" ") else ""
        out.append(f"{indent}- {_md(line.strip())}")
    d = summary.get("delivery") or {}
    rows = run_messages(d["run_id"]) if d.get("run_id") else []
    if rows:
        out += ["", "## Messages", "",
                "| outbox | status | kind | to | cc | subject | note |",
                "|---|---|---|---|---|---|---|"]
        for r in rows[:MAX_LISTED]:
            note = r["last_error"] or ""
            if r["eml_path"]:
                note = f"written to {r['eml_path'].rsplit('/', 1)[-1]}"
            out.append("| " + " | ".join(_md(str(v)) for v in (
                r["id"], r["status"], r["kind"], r["recipient"], r["cc"], r["subject"],
                note)) + " |")
        total = sum(d.get(k, 0) for k in ("sent", "failed", "unknown", "dead"))
        if total > MAX_LISTED:
            out += ["", _md(f"… and {total - MAX_LISTED} more: `tindak outbox list`")]
    return "\n".join(out) + "\n"


def run_messages(run_id: str, limit: int = MAX_LISTED) -> list[dict]:
    """The outbox rows one delivery run handled, those not sent first."""
    T = table_of(Outbox)
    q = (sa.select(T.c.id, T.c.status, T.c.kind, T.c.recipient, T.c.cc, T.c.subject,
                   T.c.last_error, T.c.eml_path)
         .where(T.c.claimed_by == run_id)
         .order_by(sa.case((T.c.status == "sent", 1), else_=0), T.c.id).limit(limit + 1))
    with get_engine().connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


_MD_SPECIAL = set("\\`*_[]#+|~")  # with [ ] escaped, ( ) ! form no link
_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def _md(text: str) -> str:
    """Text as Markdown shows it literally: no markup, no HTML, one line."""
    return "".join(_HTML.get(c) or ("\\" + c if c in _MD_SPECIAL else c)
                   for c in " ".join(text.split()))
