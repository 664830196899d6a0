"""`tindak run daily|digest`, `tindak outbox list|retry`, `tindak serve`, `tindak demo`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

import typer

from tindak.cli import args
from tindak.cli.tables import Col, print_table
from tindak.cli.words import say, t, text
from tindak.errors import N_, DeliveryError, InvalidInput

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
FUTURE_HELP = ("Allow an --as-of after today: its reminders are recorded as sent, so the "
               "real ones of the days between never go out (demos, scratch databases only).")
TZ_HELP = "WIB, WITA or WIT (or Asia/Jakarta, Asia/Makassar, Asia/Jayapura); repeatable."


def _flow_command(flow: str, doc: str, who: str) -> Callable[..., None]:
    """`tindak run FLOW`: both flows take the same options (`who`: whom --timezone keeps)."""

    def command(
        as_of: str | None = typer.Option(None, "--as-of", help=AS_OF_HELP),
        timezone: list[str] | None = typer.Option(
            None, "--timezone", help=f"Only {who} in this timezone: " + TZ_HELP),
        allow_future: bool = typer.Option(False, "--allow-future", help=FUTURE_HELP),
    ) -> None:
        from tindak.flowrun import run_flow

        summary = run_flow(flow, args.day(as_of, "--as-of"), args.timezones(timezone),
                           allow_future=allow_future)
        _report(summary)

    command.__doc__ = doc
    command.__name__ = f"{flow}_cmd"
    return command


run_app.command("daily")(_flow_command(
    "daily", "Run the daily follow-up once: check progress, queue reminders and escalations, "
    "deliver.", "units"))
run_app.command("digest")(_flow_command(
    "digest", "Run the weekly leadership digest once.", "leaders of units"))


def _report(summary: dict) -> None:
    from tindak.flowrun import describe

    lines, ok = describe(summary)
    for line in lines:
        print(text(line))
    if not ok:
        raise DeliveryError(N_("some mail was not delivered: see `tindak outbox list`"))


@outbox_app.command("list")
def outbox_list_cmd(
    status: OutboxFilter | None = typer.Option(None, help="Only messages in this status."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """List outgoing messages and their delivery status."""
    from tindak import outbox

    if fmt not in ("table", "json"):
        raise InvalidInput(N_("unknown format '%(value)s' (one of: table, json)"),
                                value=fmt)
    rows = outbox.list_outbox(status.value if status else None)
    if fmt == "json":
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1, default=str)
        print()
        return
    cols = [Col(t(N_("ID")), key=True, justify="right"), Col(t(N_("STATUS")), key=True),
            Col(t(N_("KIND")), drop=3), Col(t(N_("DATE")), key=True, drop=2),
            Col(t(N_("TO"))), Col(t(N_("SUBJECT")), drop=4), Col(t(N_("LAST ERROR")), drop=1)]
    left = print_table(cols, ([
        r["id"], r["status"], r["kind"], str(r["on_date"]), r["recipient"], r["subject"],
        (r.get("last_error") or "")[:300] if r["status"] in ("failed", "unknown", "dead")
        else ""] for r in rows))
    if left:
        say(N_("(left out to fit the terminal: %(columns)s; widen it or use --format json)"),
            columns=", ".join(left))
    say(N_("(%(count)s message(s))"), count=len(rows))
    for r in rows:  # each recipient's fate, only where some recipients refused it
        for f in r.get("recipients", []):
            print(f"{r['id']:>6}  {f['address']}: {f['state']}"
                  + (f" {f['reply'][:90]}" if f["reply"] else ""))


@outbox_app.command("retry")
def outbox_retry_cmd(
    message_id: int = typer.Argument(..., metavar="ID", help="The outbox message's ID."),
) -> None:
    """Re-queue a failed, dead or unknown message (it is sent by the next run)."""
    from tindak import outbox

    outbox.retry(args.outbox_id(message_id))
    say(N_("message %(id)s re-queued: the next `tindak run daily` delivers it"), id=message_id)


def serve_cmd(
    port: int = typer.Option(4200, help="Port of the local Prefect server and UI."),
) -> None:
    """The scheduler on one machine: a local Prefect server and both flows on their schedules."""
    from tindak.scheduler import serve

    serve(port=args.port(port))


def demo_cmd(
    path: Path = typer.Option(Path("tindak-demo"), "--dir",
                              help="Fresh data dir for the demo (must be empty or absent)."),
    as_of: str = typer.Option("2026-11-23", "--as-of",
                              help="The demo's date (a Monday, so the digest runs too); any "
                              "date, also in the future: the demo has its own database."),
) -> None:
    """Build a demo data set, run the daily follow-up and the digest over a local SMTP sink."""
    from tindak.demo import run_demo

    day = args.day(as_of, "--as-of")
    assert day is not None
    run_demo(path, day)


def register(app: typer.Typer) -> None:
    app.add_typer(run_app, name="run")
    app.add_typer(outbox_app, name="outbox")
    app.command("serve")(serve_cmd)
    app.command("demo")(demo_cmd)
