"""The daily follow-up: plan the notices the rules say are due (`tindak.followup.plan`),
compose one message per recipient and queue it in the outbox (`tindak.followup.compose`).
The daily flow runs these steps as Prefect tasks; `run_daily` runs them in this process.

Exactly once: a notice is unique per (item, stage); a message is unique per key and is
written to the outbox, with its notices, in one transaction before anyone tries to send it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from models import get_engine
from tindak.followup.compose import (
    ComposeReport,
    compose_chunk,
    compose_pending,
)
from tindak.followup.plan import (
    PLAN_BATCH,
    PlanReport,
    active_id_ranges,
    end_run,
    plan_all,
    plan_range,
    plan_ranges,
)

__all__ = ["PLAN_BATCH", "ComposeReport", "PlanReport", "active_id_ranges", "compose_chunk",
           "compose_pending", "end_run", "plan_all", "plan_range", "plan_ranges", "run_daily"]


def run_daily(as_of: date | None = None, now: datetime | None = None,
              timezones: Iterable[str] | None = None, deliver: bool = True) -> dict[str, Any]:
    """The whole daily follow-up in this process, without Prefect (library use, tests)."""
    get_engine()
    key = f"run-{uuid.uuid4().hex}"
    try:
        plan = plan_ranges(active_id_ranges(timezones), as_of, now, timezones, run_key=key)
        comp = compose_pending(now, run_key=key, as_of=as_of, timezones=timezones)
    finally:
        end_run(key)
    out: dict[str, Any] = {"items": plan.items, "notices": plan.notices,
                           "unaddressed": plan.unaddressed,
                           "unaddressed_refs": plan.unaddressed_refs, "messages": comp.messages}
    if deliver:
        from tindak import outbox

        out["delivery"] = outbox.deliver()
    return out
