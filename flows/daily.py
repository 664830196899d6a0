"""Daily follow-up (SPEC §6): plan notices in batches, compose one message per recipient,
deliver the outbox. Working days at 07:30 in each timezone that has units.

Each run logs its steps, leaves a Markdown artifact (key `daily-followup-<zones>`) of what
it did, message by message, and ends with that summary as its state's message."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.runtime import flow_run

from flows.flow import flow
from flows.shared import artifact_key, deliver_all, finish
from tindak import followup
from tindak.database import migrate
from tindak.settings import get_settings

# Ranges of followup.PLAN_BATCH items per planning task: 100,000 items a task, planned on
# every core (a task costs milliseconds and records; a million items make ten).
RANGES_PER_TASK = 10


@task(name="plan-notices", retries=2, retry_delay_seconds=[2, 10],
      task_run_name="plan-{first}-{last}")
def plan_batch(ranges: list[tuple[int, int]], first: int, last: int, as_of: date | None,
               now: datetime, timezones: list[str] | None, run_key: str
               ) -> followup.PlanReport:
    return followup.plan_ranges(ranges, as_of=as_of, now=now, timezones=timezones,
                                run_key=run_key)


@task(name="compose-messages", retries=2, retry_delay_seconds=[2, 10])
def compose(run_key: str | None = None, as_of: date | None = None,
            timezones: list[str] | None = None) -> followup.ComposeReport:
    return followup.compose_pending(run_key=run_key, as_of=as_of, timezones=timezones)


def _run_name() -> str:
    as_of = flow_run.parameters.get("as_of")
    return f"daily-{as_of or 'today'}"


@flow(name="daily-follow-up", flow_run_name=_run_name, log_prints=True)
def daily_followup(as_of: date | None = None, timezones: list[str] | None = None,
                   deliver: bool = True) -> Any:
    """Check progress, queue reminders and escalations, deliver (unless `deliver` is false:
    then the messages stay queued for the next run or `tindak outbox`). Returns the summary
    dict (inside a Completed state whose message is that summary in one line)."""
    migrate()  # a worker's flow process may be the first to open this database
    log = get_run_logger()
    settings = get_settings()
    plan = followup.PlanReport()
    key = f"daily-{uuid.uuid4().hex}"  # the tasks of this run share processes and context
    now = datetime.now(UTC)  # one clock for the whole run: "today" in each timezone
    ranges = followup.active_id_ranges(timezones)
    log.info("daily follow-up as of %s for %s: %d range(s) of active items to check",
             as_of or "today", ", ".join(timezones) if timezones else "every timezone",
             len(ranges))
    try:
        for i in range(0, len(ranges), RANGES_PER_TASK):
            chunk = ranges[i:i + RANGES_PER_TASK]
            plan.add(plan_batch(chunk, chunk[0][0], chunk[-1][1], as_of, now, timezones, key))
        log.info("checked %d active item(s): %d notice(s) due, %d escalation(s) with "
                 "nobody to go to", plan.items, plan.notices, plan.unaddressed)
        # On the planning processes, when there are some; this run's people only.
        composed = compose(key, as_of, timezones)
    finally:
        followup.end_run(key)
    log.info("queued %d message(s) %s", composed.messages, composed.by_kind or "")
    summary: dict[str, Any] = {
        "items": plan.items, "notices": plan.notices, "unaddressed": plan.unaddressed,
        "unaddressed_refs": plan.unaddressed_refs, "messages": composed.messages,
        "by_kind": composed.by_kind}
    if deliver:
        summary["delivery"] = deliver_all(settings)
    title = f"Daily follow-up {as_of or now.date()}" + (
        f" ({', '.join(timezones)})" if timezones else "")
    return finish(summary, title, artifact_key("daily-followup", timezones))
