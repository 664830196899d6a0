"""Processes for CPU-bound work (planning notices, rendering message bodies and digest
charts), one per core.

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
from concurrent.futures import Executor, ProcessPoolExecutor

MAX_WORKERS = 4


def render_pool(workers: int | None = None) -> Executor | None:
    """A pool of `workers` processes (default: the cores, at most 4); None for fewer than 2."""
    n = workers if workers is not None else min(MAX_WORKERS, os.cpu_count() or 1)
    if n < 2:
        return None
    settings = {k: v for k, v in os.environ.items() if k.startswith("TINDAK_")}
    return ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("forkserver"),
                               initializer=_warm_up, initargs=(os.getpid(), settings))


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
