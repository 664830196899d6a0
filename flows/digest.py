"""Weekly leadership digest (SPEC §6): Mondays 07:00 local time, one message per leader;
and with it the public's weekly update (SPEC §7): one message per subscriber whose forums
changed, at most one per ISO week.

Each run logs its steps, leaves a Markdown artifact (key `weekly-digest-<zones>`) and ends
with its summary as its state's message, as the daily flow does."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from prefect import get_run_logger, task
from prefect.runtime import flow_run

from flows.flow import flow
from flows.shared import artifact_key, deliver_all, finish
from tindak import digest, pool, public_loop
from tindak.database import migrate
from tindak.settings import get_settings

# A task builds its leaders' digests in batches and renders them on every core; the render
# processes are the run's (tindak.pool), shared by its tasks: tasks can be small or large.
LEADERS_PER_TASK = 1000


@task(name="plan-digests", retries=2, retry_delay_seconds=[2, 10],
      task_run_name="digests-{as_of}-{first}")
def plan_batch(as_of: date, ids: list[int], first: int, run_key: str) -> digest.DigestReport:
    return digest.plan_digests(as_of, ids, run_key=run_key)


@task(name="plan-public-updates", retries=2, retry_delay_seconds=[2, 10],
      task_run_name="public-updates-{as_of}")
def plan_public_updates(as_of: date, timezones: list[str] | None) -> public_loop.UpdateReport:
    return public_loop.plan_updates(as_of, timezones)


def _run_name() -> str:
    return f"digest-{flow_run.parameters.get('as_of') or 'this-week'}"


@flow(name="weekly-digest", flow_run_name=_run_name, log_prints=True)
def weekly_digest(as_of: date | None = None, timezones: list[str] | None = None) -> Any:
    """Build and send each leader's digest of their unit tree; returns the summary dict."""
    migrate()  # a worker's flow process may be the first to open this database
    log = get_run_logger()
    now = datetime.now(UTC)
    groups = digest.leaders_by_timezone(timezones)
    digests = digest.DigestReport()
    key = f"digest-{uuid.uuid4().hex}"  # the tasks of this run share render processes
    try:
        for tz, ids in groups.items():
            day = as_of or now.astimezone(ZoneInfo(tz)).date()
            log.info("digests of %s for %d leader(s) in %s", day, len(ids), tz)
            for i in range(0, len(ids), LEADERS_PER_TASK):
                digests.add(plan_batch(day, ids[i:i + LEADERS_PER_TASK], ids[i], key))
    finally:
        pool.end_run(key)
    log.info("queued %d digest(s) for %d leader(s); %d already queued this week",
             digests.messages, digests.leaders, digests.skipped)
    day = as_of or now.astimezone(ZoneInfo("Asia/Jakarta")).date()
    public = plan_public_updates(day, timezones)
    if public.no_base_url:
        log.warning("%d subscriber(s) get no update: TINDAK_BASE_URL is not set, and an "
                    "update needs its links", public.subscribers)
    log.info("queued %d public update(s) for %d subscriber(s); %d already sent this week",
             public.messages, public.subscribers, public.skipped)
    summary: dict[str, Any] = {"leaders": digests.leaders, "messages": digests.messages,
                               "skipped": digests.skipped, "public_updates": public.messages}
    summary["delivery"] = deliver_all(get_settings())
    title = f"Weekly digest {as_of or now.date()}" + (
        f" ({', '.join(timezones)})" if timezones else "")
    return finish(summary, title, artifact_key("weekly-digest", timezones))
