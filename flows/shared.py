"""What both flows share: delivering the outbox, and telling Prefect what a run did (its
log, a Markdown artifact under a stable key, and a final state whose message is the run's
summary in one line)."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed

from tindak import outbox
from tindak.calendar import tz_abbr
from tindak.flowrun import headline, story
from tindak.settings import Settings


@task(name="recover-stale-deliveries")
def recover() -> outbox.DeliveryReport:
    return outbox.recover_stale()


@task(name="deliver-batch", task_run_name="deliver-{n}")
def deliver_batch(run_id: str, n: int) -> outbox.DeliveryReport | None:
    """One batch over one SMTP connection. Raises (so Prefect retries) only when the server
    could not be reached and every message of the batch went back to the queue."""
    report = outbox.deliver_batch(run_id)
    if report is None:
        return None
    if report.stopped and not report.sent and not report.unknown:
        report.raise_if_stopped()
    return report


def deliver_all(settings: Settings) -> dict[str, Any]:
    """Deliver batch after batch (one task, one SMTP connection each) until none is left."""
    log = get_run_logger()
    total = recover()
    if total.requeued or total.unknown:
        log.warning("a delivery run that died left %d message(s) claimed (queued again) and "
                    "%d in doubt (marked unknown)", total.requeued, total.unknown)
    send = deliver_batch.with_options(retries=settings.delivery_retries,
                                      retry_delay_seconds=list(settings.delivery_retry_delays))
    run_id = outbox.new_run_id()
    n = 0
    while True:
        n += 1
        state = send(run_id, n, return_state=True)
        if state.is_failed():
            total.stopped = True
            total.error(_failure_line(state))
            log.error("delivery stopped: %s", total.errors[-1])
            break
        batch = state.result()
        if batch is None:
            break
        log.info("delivery batch %d: %s", n, batch.summary())
        for line in batch.errors:
            log.warning("%s", line)
        total.merge(batch)
        if batch.stopped:
            break
    return {**asdict(outbox.finish(total)), "run_id": run_id}


def _failure_line(state: State[Any]) -> str:
    try:
        state.result()
    except Exception as exc:  # the task's own error, already one clear line
        return str(exc)
    return "delivery failed"


def artifact_key(flow: str, timezones: list[str] | None) -> str:
    """A stable key per flow and timezones ('daily-followup-wib'): the UI keeps its history."""
    zones = "-".join(tz_abbr(tz) for tz in timezones) if timezones else "all"
    return re.sub(r"[^a-z0-9-]+", "-", f"{flow}-{zones}".lower()).strip("-")


def finish(summary: dict[str, Any], title: str, key: str) -> Any:
    """Log the summary, leave it as the run's artifact, and complete with it as the state's
    message; the caller (CLI, tests) still gets the summary dict as the result."""
    log = get_run_logger()
    line = headline(summary)
    log.info("%s", line)
    create_markdown_artifact(markdown=story(summary, title), key=key,
                             description=line[:500])
    return Completed(message=line, data=summary)
