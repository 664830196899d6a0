"""`tindak run daily|digest`, `tindak outbox list|retry`, `tindak serve`, `tindak demo`."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer

from tindak.calendar import parse_date
from tindak.errors import DeliveryError

run_app = typer.Typer(help="Run a flow once, now (without the scheduler).",
                      no_args_is_help=True)
outbox_app = typer.Typer(help="Inspect and re-queue outgoing mail.", no_args_is_help=True)


class OutboxFilter(StrEnum):
    pending = "pending"
    claimed = "claimed"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    unknown = "unknown"
    dead = "dead"


AS_OF_HELP = ("Behave as if it were this date (YYYY-MM-DD or DD/MM/YYYY), morning in each "
              "unit's timezone: for back-fills, tests and demos.")


@run_app.command("daily")
def daily_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
    timezone: list[str] | None = typer.Option(
        None, "--timezone", help="Only units in this timezone (repeatable)."),
) -> None:
    """Run the daily follow-up once: check progress, queue reminders and escalations, deliver."""
    from tindak.flowrun import run_flow

    summary = run_flow("daily", parse_date(as_of) if as_of else None, timezone or None)
    _report(summary)


@run_app.command("digest")
def digest_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
    timezone: list[str] | None = typer.Option(
        None, "--timezone", help="Only leaders of units in this timezone (repeatable)."),
) -> None:
    """Run the weekly leadership digest once."""
    from tindak.flowrun import run_flow

    summary = run_flow("digest", parse_date(as_of) if as_of else None, timezone or None)
    _report(summary)


def _report(summary: dict) -> None:
    from tindak.flowrun import describe

    lines, ok = describe(summary)
    for line in lines:
        print(line)
    if not ok:
        raise DeliveryError("some mail was not delivered: see `tindak outbox list`")


@outbox_app.command("list")
def outbox_list_cmd(
    status: OutboxFilter | None = typer.Option(None, help="Only messages in this status."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """List outgoing messages and their delivery status."""
    from tindak import delivery

    rows = delivery.list_outbox(status.value if status else None)
    if fmt == "json":
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1, default=str)
        print()
        return
    print(f"{'ID':>6}  {'STATUS':8}  {'KIND':10}  {'DATE':10}  {'TO':32}  SUBJECT")
    for r in rows:
        print(f"{r['id']:>6}  {r['status']:8}  {r['kind']:10}  {str(r['on_date']):10}  "
              f"{r['recipient'][:32]:32}  {r['subject'][:70]}")
        if r.get("last_error") and r["status"] in ("failed", "unknown", "dead"):
            print(f"{'':>6}  ↳ {r['last_error'][:110]}")
        for f in r.get("recipients", []):  # only where some recipients refused it
            print(f"{'':>6}    {f['address']}: {f['state']}"
                  + (f" {f['reply'][:90]}" if f["reply"] else ""))
    print(f"({len(rows)} message{'s' if len(rows) != 1 else ''})")


@outbox_app.command("retry")
def outbox_retry_cmd(
    message_id: int = typer.Argument(..., metavar="ID", help="The outbox message's ID."),
) -> None:
    """Re-queue a failed, dead or unknown message (it is sent by the next run)."""
    from tindak import delivery

    delivery.retry(message_id)
    print(f"message {message_id} re-queued: the next `tindak run daily` delivers it")


def serve_cmd(
    port: int = typer.Option(4200, help="Port of the local Prefect server and UI."),
) -> None:
    """The scheduler on one machine: a local Prefect server and both flows on their schedules."""
    from tindak.scheduler import serve

    serve(port=port)


def demo_cmd(
    path: Path = typer.Option(Path("tindak-demo"), "--dir",
                              help="Fresh data dir for the demo (must be empty or absent)."),
    as_of: str = typer.Option("2026-11-23", "--as-of",
                              help="The demo's date (a Monday, so the digest runs too)."),
) -> None:
    """Build a demo data set, run the daily follow-up and the digest over a local SMTP sink."""
    from tindak.demo import run_demo

    run_demo(path, parse_date(as_of))


def register(app: typer.Typer) -> None:
    app.add_typer(run_app, name="run")
    app.add_typer(outbox_app, name="outbox")
    app.command("serve")(serve_cmd)
    app.command("demo")(demo_cmd)
