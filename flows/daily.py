"""Daily follow-up (SPEC §6): plan notices in batches, compose one message per recipient,
deliver the outbox. Working days at 07:30 in each timezone that has units."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime

from prefect import flow, task
from prefect.runtime import flow_run

from tindak import delivery, followup
from tindak.settings import get_settings

# Ranges of followup.PLAN_BATCH items per planning task: 100,000 items a task, planned on
# every core (a task costs milliseconds and records; a million items make ten).
RANGES_PER_TASK = 10


@task(name="plan-notices", retries=2, retry_delay_seconds=[2, 10],
      task_run_name="plan-{first}-{last}")
def plan_batch(ranges: list[tuple[int, int]], first: int, last: int, as_of: date | None,
               now: datetime, timezones: list[str] | None, run_key: str) -> dict:
    r = followup.plan_ranges(ranges, as_of=as_of, now=now, timezones=timezones,
                             run_key=run_key)
    return {"items": r.items, "notices": r.notices, "unaddressed": r.unaddressed,
            "unaddressed_refs": r.unaddressed_refs}


@task(name="compose-messages", retries=2, retry_delay_seconds=[2, 10])
def compose(run_key: str | None = None, as_of: date | None = None) -> dict:
    r = followup.compose_pending(run_key=run_key, as_of=as_of)
    return {"messages": r.messages, "by_kind": r.by_kind}


@task(name="recover-stale-deliveries")
def recover() -> dict:
    return asdict(delivery.recover_stale())


@task(name="deliver-batch", task_run_name="deliver-{n}")
def deliver_batch(run_id: str, n: int) -> dict | None:
    """One batch over one SMTP connection. Raises (so Prefect retries) only when the server
    could not be reached and every message of the batch went back to the queue."""
    report = delivery.deliver_batch(run_id)
    if report is None:
        return None
    if report.stopped and not report.sent and not report.unknown:
        report.raise_if_stopped()
    return asdict(report)


def _run_name() -> str:
    as_of = flow_run.parameters.get("as_of")
    return f"daily-{as_of or 'today'}"


@flow(name="daily-follow-up", flow_run_name=_run_name, log_prints=True)
def daily_followup(as_of: date | None = None, timezones: list[str] | None = None,
                   deliver: bool = True) -> dict:
    """Check progress, queue reminders and escalations, deliver (unless `deliver` is false:
    then the messages stay queued for the next run or `tindak outbox`)."""
    settings = get_settings()
    summary: dict = {"items": 0, "notices": 0, "unaddressed": 0, "unaddressed_refs": []}
    key = f"daily-{uuid.uuid4().hex}"  # the tasks of this run share processes and context
    now = datetime.now(UTC)  # one clock for the whole run: "today" in each timezone
    ranges = followup.active_id_ranges(timezones)
    try:
        for i in range(0, len(ranges), RANGES_PER_TASK):
            chunk = ranges[i:i + RANGES_PER_TASK]
            for k, v in plan_batch(chunk, chunk[0][0], chunk[-1][1], as_of, now, timezones,
                                   key).items():
                summary[k] += v
        summary.update(compose(key, as_of))  # on the planning processes, when there are some
    finally:
        followup.end_run(key)
    if deliver:
        summary["delivery"] = deliver_all(settings)
    return summary


def deliver_all(settings) -> dict:  # type: ignore[no-untyped-def]
    """Deliver batch after batch (one task, one SMTP connection each) until none is left."""
    total = delivery.DeliveryReport(**recover())
    send = deliver_batch.with_options(retries=settings.delivery_retries,
                                      retry_delay_seconds=list(settings.delivery_retry_delays))
    run_id = delivery.new_run_id()
    n = 0
    while True:
        n += 1
        state = send(run_id, n, return_state=True)
        if state.is_failed():
            total.stopped = True
            total.error(_failure_line(state))
            break
        result = state.result()
        if result is None:
            break
        batch = delivery.DeliveryReport(**result)
        total.merge(batch)
        if batch.stopped:
            break
    total.mode = "smtp" if settings.smtp_host else "eml"
    total.pending_left = delivery.count_queued()
    return asdict(total)


def _failure_line(state) -> str:  # type: ignore[no-untyped-def]
    try:
        state.result()
    except Exception as exc:  # the task's own error, already one clear line
        return str(exc)
    return "delivery failed"
