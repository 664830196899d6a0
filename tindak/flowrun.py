"""Run a flow once from the command line, through Prefect, and say what happened."""

from __future__ import annotations

from datetime import date

from tindak.runtime import configure_prefect
from tindak.settings import get_settings


def run_flow(name: str, as_of: date | None, timezones: list[str] | None) -> dict:
    """Run the daily or digest flow in this process (Prefect's ephemeral API, or a server's)."""
    from models import get_engine

    get_engine()  # schema first: a clear error before Prefect starts
    configure_prefect(quiet=True)
    if name == "daily":
        from flows.daily import daily_followup

        return daily_followup(as_of=as_of, timezones=timezones)
    from flows.digest import weekly_digest

    return weekly_digest(as_of=as_of, timezones=timezones)


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
    if d.get("mode") == "eml":
        lines.append(f"no SMTP host set (TINDAK_SMTP_HOST): wrote {d.get('eml_written', 0)} "
                     f".eml file(s) to {get_settings().outbox_dir}")
    else:
        lines.append(f"delivered: {d.get('sent', 0)} sent, {d.get('failed', 0)} failed "
                     f"(will retry), {d.get('unknown', 0)} unknown, "
                     f"{d.get('pending_left', 0)} still queued")
    for err in d.get("errors", [])[:5]:
        lines.append(f"  {err}")
    if d.get("unknown"):
        lines.append("  messages in doubt are not resent: `tindak outbox list --status unknown`")
    ok = not (d.get("failed") or d.get("unknown") or d.get("dead") or d.get("stopped"))
    return lines, ok
