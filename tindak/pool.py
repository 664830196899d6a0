"""The one pool of processes for CPU-bound work (planning notices, rendering message bodies
and digest charts), one process per core, with one lifecycle: made when a run first has
enough work for it, reused by that run's later steps and tasks, shut down at the run's end.

    with pool.for_run(run_key, wanted=len(work) >= SOME_MIN) as executor:
        ...  # None: do the work in this process
    pool.end_run(run_key)  # the run's last step (a flow's `finally`)

Without a run key, `for_run` makes a pool for that call alone and shuts it down after.

Why not Prefect's ProcessPoolTaskRunner: bench/bench_pools.py renders 2,000 messages in
jobs of 50 on 2 processes; this pool took 1.35 s (0.61 s warm; 0.76 s in one process),
the task runner 10.9-12.9 s (2.9-3.8 s warm) with `.map` or `.submit`, every job a task
run whose process also reports to the API (one sitting, on a loaded machine). The flows
keep Prefect's tasks for batches (retries, names, the run's story) and this pool for the
work inside them.

forkserver: the children start from a clean server process, not from a copy of one that
holds Prefect's threads and open database connections. Like every multiprocessing start
method but fork, they import the main module again: a script that renders at scale keeps
its work under `if __name__ == "__main__":`.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

MAX_WORKERS = 4


def make_pool(workers: int | None = None) -> ProcessPoolExecutor | None:
    """A pool of `workers` processes (default: the cores, at most 4); None for fewer than 2.
    Its processes take this process's TINDAK_* settings and load the mail templates once."""
    n = workers if workers is not None else min(MAX_WORKERS, os.cpu_count() or 1)
    if n < 2:
        return None
    settings = {k: v for k, v in os.environ.items() if k.startswith("TINDAK_")}
    return ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("forkserver"),
                               initializer=_warm_up, initargs=(os.getpid(), settings))


_lock = threading.Lock()
_runs: dict[str, ProcessPoolExecutor] = {}  # run key → its pool, until end_run


def run_pool(run_key: str) -> Executor | None:
    """The pool of a run: made on the first call, the same one after (a pool broken by a
    dead process is replaced, so a retried task starts afresh)."""
    with _lock:
        executor = _runs.get(run_key)
        if executor is not None and not getattr(executor, "_broken", False):
            return executor
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
            del _runs[run_key]
        made = make_pool()
        if made is not None:
            _runs[run_key] = made
        return made


def started(run_key: str | None) -> Executor | None:
    """The run's pool if one of its steps made it (a small run has none)."""
    with _lock:
        return _runs.get(run_key) if run_key else None


@contextmanager
def for_run(run_key: str | None, wanted: bool = True,
            workers: int | None = None) -> Iterator[Executor | None]:
    """The pool a step uses: the run's (made now if `wanted` and not yet there), or with no
    run key or explicit `workers`, one for this step alone, shut down after. None: work here."""
    if run_key is not None and workers is None:
        yield run_pool(run_key) if wanted else started(run_key)
        return
    own = make_pool(workers) if wanted else None
    try:
        yield own
    finally:
        if own is not None:
            own.shutdown(cancel_futures=True)


def end_run(run_key: str) -> None:
    """Shut down the run's pool, if it made one."""
    with _lock:
        executor = _runs.pop(run_key, None)
    if executor is not None:
        executor.shutdown(cancel_futures=True)


def _warm_up(parent: int, settings: dict[str, str]) -> None:
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    # The settings of the process that made the pool, not those of the forkserver (started
    # once, perhaps before TINDAK_* changed): the same database, language and links.
    for key in [k for k in os.environ if k.startswith("TINDAK_")]:
        del os.environ[key]
    os.environ.update(settings)
    from tindak import mail
    from tindak.settings import reset_settings

    reset_settings()
    mail.environment()


def _end_with(parent: int) -> None:
    """Leave when the process that made the pool is gone: a run killed with -9 leaves no
    render process behind (the forkserver and resource tracker then end on their own)."""
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # the pid was reused by another user's process
            os._exit(0)
