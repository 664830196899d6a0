"""Process pools for CPU-bound work, measured: today's pool (`tindak.pool`, a
ProcessPoolExecutor on forkserver whose processes load the mail templates once) against
Prefect's `ProcessPoolTaskRunner` with `.map` and `.submit`, on the same job: rendering
notice messages in chunks of `RENDER_CHUNK`, as the daily follow-up does.

    python bench/bench_pools.py [--messages 2000] [--workers 2] [--repeat 2]

Each figure is the wall time of the whole job including the pool's start-up (what a run
pays); "warm" is a second job on the same pool. Run every variant in one sitting: the
figures are meant to be compared with each other, not with another machine's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RENDER_CHUNK = 50  # recipients per job, as tindak.followup's composing


def mails(first: int, n: int) -> list:
    from tindak.mailmodel import ItemLine, NoticeMail

    day = date(2026, 3, 9)
    out = []
    for i in range(first, first + n):
        items = [ItemLine(ref=f"R{i}-{k}", text="Menyusun laporan tindak lanjut " * 3,
                          forum="Rapat koordinasi", unit_name="Dinas Kesehatan",
                          deadline=day + timedelta(days=3 - 5 * k), tz="Asia/Jakarta",
                          status="in_progress", progress=40, owner_name=f"Pemilik {i}",
                          owner_email=f"p{i}@contoh.go.id", stage="before_3",
                          days_left=3 - 5 * k, days_overdue=max(0, 5 * k - 3))
                 for k in range(1 + i % 4)]
        out.append(NoticeMail(kind="reminder", on_date=day, recipient_name=f"Pemilik {i}",
                              recipient_email=f"p{i}@contoh.go.id", items=items))
    return out


def render_chunk(job: tuple[int, int]) -> int:
    """What a render process does with one job: a few ids in (as composing hands out
    recipient ids), messages made and rendered there; a size back, not the messages (the
    transfer back is the same for every variant and not what is measured)."""
    from tindak import mail

    return sum(len(mail.render_notice(m).html) for m in mails(*job))


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(size, n - i)) for i in range(0, n, size)]


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def in_process(jobs: list[tuple[int, int]]) -> None:
    for job in jobs:
        render_chunk(job)


def tindak_pool(jobs: list[tuple[int, int]], workers: int) -> tuple[float, float]:
    from tindak import pool

    t0 = time.perf_counter()
    executor = pool.make_pool(workers)
    assert executor is not None
    try:
        for f in [executor.submit(render_chunk, j) for j in jobs]:
            f.result()
        cold = time.perf_counter() - t0
        warm = timed(lambda: [f.result() for f in [executor.submit(render_chunk, j)
                                                   for j in jobs]])
    finally:
        executor.shutdown()
    return cold, warm


def prefect_runner(jobs: list[tuple[int, int]], workers: int, how: str) -> tuple[float, float]:
    from prefect import flow, task
    from prefect.task_runners import ProcessPoolTaskRunner

    render = task(render_chunk, name="render-chunk")

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=workers))
    def job_flow() -> tuple[float, float]:  # jobs from the closure: not flow parameters
        t0 = time.perf_counter()
        first = 0.0
        for _ in range(2):
            if how == "map":
                render.map(jobs).result()
            else:
                for f in [render.submit(j) for j in jobs]:
                    f.result()
            if _ == 0:
                first = time.perf_counter() - t0
        return first, time.perf_counter() - t0 - first

    t0 = time.perf_counter()
    first, warm = job_flow()
    total = time.perf_counter() - t0
    return total - warm, warm  # cold: the flow's start-up and the processes' with it


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault("TINDAK_DATABASE_URL", "sqlite:///:memory:")
    jobs = chunks(a.messages, RENDER_CHUNK)
    render_chunk(jobs[0])  # templates loaded here once, as in a run's own process
    # Prefect's start-up (its API in this process) paid once, before any figure.
    from prefect import flow as pflow

    pflow(lambda: None, name="warm-up")()
    print(f"{a.messages} messages in {len(jobs)} jobs of {RENDER_CHUNK}, "
          f"{a.workers} workers, {os.cpu_count()} cores; best of {a.repeat}")
    rows: dict[str, list[tuple[float, float]]] = {}
    for _ in range(a.repeat):
        rows.setdefault("in this process", []).append((timed(in_process, jobs),) * 2)
        rows.setdefault("tindak.pool (ProcessPoolExecutor)", []).append(
            tindak_pool(jobs, a.workers))
        rows.setdefault("Prefect ProcessPoolTaskRunner .map", []).append(
            prefect_runner(jobs, a.workers, "map"))
        rows.setdefault("Prefect ProcessPoolTaskRunner .submit", []).append(
            prefect_runner(jobs, a.workers, "submit"))
    print(f"{'variant':40} {'cold s':>8} {'warm s':>8} {'µs/msg warm':>12}")
    for name, runs in rows.items():
        cold = min(r[0] for r in runs)
        warm = min(r[1] for r in runs)
        print(f"{name:40} {cold:8.2f} {warm:8.2f} {warm / a.messages * 1e6:12.0f}")


if __name__ == "__main__":
    main()
