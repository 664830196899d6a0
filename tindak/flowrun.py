"""Run a flow once from the command line, through Prefect, and say what happened.

`describe` words a run's summary; the CLI prints those lines, and the flow itself gives
the same lines to Prefect (its state message and its artifact, `story`), so the terminal
and the Prefect UI tell the same story.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import date
from typing import Any

from tindak.runtime import configure_prefect, ui_url
from tindak.settings import get_settings

MAX_LISTED = 100  # messages listed in a run's artifact; the rest are counted


def run_flow(name: str, as_of: date | None, timezones: list[str] | None) -> dict:
    """Run the daily or digest flow in this process: on the Prefect server of
    PREFECT_API_URL or of a running `tindak serve`, else on an ephemeral API."""
    from models import get_engine

    get_engine()  # schema first: a clear error before Prefect starts
    imported = "prefect" in sys.modules  # then Prefect has read its settings already
    api = configure_prefect(quiet=True, find_server=True)
    if name == "daily":
        from flows.daily import daily_followup as run
    else:
        from flows.digest import weekly_digest as run
    with _on_server(api if imported else None):
        state = run(as_of=as_of, timezones=timezones, return_state=True)
    summary: dict = state.result()
    if api is not None:
        summary["prefect_run_url"] = ui_url(api, state.state_details.flow_run_id)
    return summary


def _on_server(api: str | None) -> Any:
    """Prefect imported before the server was found (a test process) reads no environment:
    point it at the server for this run (costs ~1 s of pydantic: only when needed)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if api is None or PREFECT_API_URL.value() == api:
        return nullcontext()
    return temporary_settings(updates={PREFECT_API_URL: api})


def describe(summary: dict) -> tuple[list[str], bool]:
    """Lines for the user, and whether every message was delivered."""
    lines = []
    if "notices" in summary:
        lines.append(f"checked {summary['items']} active item(s); planned "
                     f"{summary['notices']} notice(s)")
        if summary.get("unaddressed"):
            refs = (summary.get("unaddressed_refs") or [])[:20]
            more = summary["unaddressed"] - len(refs)
            named = ", ".join(refs) + (f" and {more} more" if more > 0 else "")
            lines.append(f"  {summary['unaddressed']} escalation(s) had nobody above the owner "
                         f"to go to" + (f" ({named})" if refs else "") + ": give those owners "
                         "a supervisor or their unit a leader")
    if "leaders" in summary:
        lines.append(f"digests: {summary['messages']} queued for {summary['leaders']} "
                     f"leader(s), {summary['skipped']} already queued this week")
    elif "messages" in summary:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary.get("by_kind", {}).items()))
        lines.append(f"queued {summary['messages']} message(s)" + (f" ({kinds})" if kinds else ""))
    d = summary.get("delivery") or {}
    if "delivery" not in summary:
        lines.append("not delivered in this run: the messages stay queued")
    elif d.get("mode") == "eml":
        lines.append(f"no SMTP host set (TINDAK_SMTP_HOST): wrote {d.get('eml_written', 0)} "
                     f".eml file(s) to {get_settings().outbox_dir}")
    else:
        lines.append(f"delivered: {d.get('sent', 0)} sent, {d.get('failed', 0)} failed "
                     f"(will retry), {d.get('unknown', 0)} unknown, "
                     f"{d.get('pending_left', 0)} still queued")
        if _more(d):
            lines.append("  also: " + _more(d))
    for err in d.get("errors", [])[:5]:
        lines.append(f"  {err}")
    if d.get("unknown"):
        lines.append("  messages in doubt are not resent: `tindak outbox list --status unknown`")
    if summary.get("prefect_run_url"):
        lines.append(f"Prefect flow run: {summary['prefect_run_url']}")
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
    lines, _ = describe(summary)
    return "; ".join(line for line in lines if not line.startswith(" "))


def story(summary: dict, title: str) -> str:
    """The run as Markdown for its Prefect artifact: describe's lines, then each message
    this run delivered, failed or left in doubt, with its recipients."""
    lines, _ = describe(summary)
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
    import sqlalchemy as sa

    from models import Outbox, get_engine

    T = Outbox.__table__  # type: ignore[attr-defined]
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
