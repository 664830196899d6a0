"""One step of bench/run.py, run in its own process so its wall time and peak memory are its
own: `python bench/steps.py STEP [ARG ...]`; settings from TINDAK_* in the environment.
The last line on stdout is a JSON object with what the step counted and timed inside.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def daily(as_of: str) -> dict:
    """Plan, render and queue (no delivery), as the daily flow's tasks do, without Prefect."""
    from models import get_engine
    from tindak import followup

    get_engine()
    day = date.fromisoformat(as_of)
    key = "bench-daily"  # as run_daily and the flow: the planning processes also render
    t0 = time.perf_counter()
    try:
        plan = followup.plan_ranges(followup.active_id_ranges(), as_of=day, run_key=key)
        t1 = time.perf_counter()
        comp = followup.compose_pending(run_key=key)
        t2 = time.perf_counter()
    finally:
        followup.end_run(key)
    return {"items": plan.items, "notices": plan.notices, "messages": comp.messages,
            "plan_s": round(t1 - t0, 2), "compose_s": round(t2 - t1, 2)}


def flow(as_of: str) -> dict:
    """The daily flow through Prefect (ephemeral API), delivery left out; Prefect's start-up
    (the first flow run of a process starts the API) is timed on an empty flow first."""
    from models import get_engine
    from tindak.runtime import configure_prefect

    get_engine()
    configure_prefect(quiet=True)
    from prefect import flow as prefect_flow

    from flows.daily import daily_followup

    @prefect_flow(name="bench-start-up")
    def empty() -> None:
        return None

    t0 = time.perf_counter()
    empty()
    t1 = time.perf_counter()
    summary = daily_followup(as_of=date.fromisoformat(as_of), deliver=False)
    t2 = time.perf_counter()
    return {"items": summary["items"], "notices": summary["notices"],
            "messages": summary["messages"], "prefect_start_s": round(t1 - t0, 2),
            "flow_s": round(t2 - t1, 2)}


def digest(as_of: str) -> dict:
    """Every leader's digest built, rendered and queued (no delivery)."""
    from flows.digest import LEADERS_PER_TASK
    from models import get_engine
    from tindak import digest as dg

    get_engine()
    day = date.fromisoformat(as_of)
    ids = [pid for group in dg.leaders_by_timezone().values() for pid in group]
    messages = 0
    step = LEADERS_PER_TASK
    for i in range(0, len(ids), step):  # as the flow's tasks do
        messages += dg.plan_digests(day, ids[i:i + step]).messages
    return {"leaders": len(ids), "messages": messages}


def deliver() -> dict:
    """One delivery worker: tindak.outbox.deliver() until nothing is left."""
    from dataclasses import asdict

    from models import get_engine
    from tindak import outbox

    get_engine()
    report = asdict(outbox.deliver())
    return {k: report[k] for k in ("sent", "failed", "unknown", "dead", "requeued")}


STEPS = {"daily": daily, "flow": flow, "digest": digest, "deliver": deliver}

if __name__ == "__main__":  # render processes re-import this module: keep the work here
    result = STEPS[sys.argv[1]](*sys.argv[2:])
    print(json.dumps(result), flush=True)
