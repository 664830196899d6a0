"""Processes for CPU-bound work (planning notices, rendering message bodies and digest
charts), one per core.

forkserver: the children start from a clean server process, not from a copy of one that
holds Prefect's threads and open database connections. Like every multiprocessing start
method but fork, they import the main module again: a script that renders at scale keeps
its work under `if __name__ == "__main__":`.

`render_pool` makes a pool for one run; `shared_render_pool` keeps one warm between runs.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

MAX_WORKERS = 4
POOL_KEEP_S = 30.0  # a kept pool outlives its run this long: the next run reuses it


def render_pool(workers: int | None = None) -> Executor | None:
    """A pool of `workers` processes (default: the cores, at most 4); None for fewer than 2."""
    n = workers if workers is not None else min(MAX_WORKERS, os.cpu_count() or 1)
    if n < 2:
        return None
    settings = {k: v for k, v in os.environ.items() if k.startswith("TINDAK_")}
    return ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("forkserver"),
                               initializer=_warm_up, initargs=(os.getpid(), settings))


_pool_lock = threading.Lock()
_pool: dict[str, Any] = {"executor": None, "env": None, "users": 0, "timer": None}


@contextmanager
def shared_render_pool() -> Iterator[Executor | None]:
    """The render processes one process's runs share, kept POOL_KEEP_S after the last: the
    digest flow plans the leaders in several tasks, and starting processes (matplotlib,
    templates) costs ~1 s each time. None where the pool has other TINDAK_* settings and is
    in use (the caller renders here), or where there are fewer than 2 cores."""
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("TINDAK_"))
    with _pool_lock:
        if _pool["timer"] is not None:
            _pool["timer"].cancel()
            _pool["timer"] = None
        if _pool["executor"] is not None and _pool["env"] != env and not _pool["users"]:
            _pool["executor"].shutdown(wait=False)  # made with other settings
            _pool["executor"] = None
        if _pool["executor"] is None:
            _pool["executor"], _pool["env"] = render_pool(), env
        executor = _pool["executor"] if _pool["env"] == env else None
        _pool["users"] += 1
    failed = False
    try:
        yield executor
    except BaseException:
        failed = True
        raise
    finally:
        with _pool_lock:
            _pool["users"] -= 1
            if failed and not _pool["users"] and _pool["executor"] is not None:
                # (a render process may have died: the next run starts afresh)
                _pool["executor"].shutdown(wait=False, cancel_futures=True)
                _pool["executor"] = None
            elif not _pool["users"] and _pool["executor"] is not None:
                timer = threading.Timer(POOL_KEEP_S, _close_idle_pool)
                timer.daemon = True
                timer.start()
                _pool["timer"] = timer


def _close_idle_pool() -> None:
    with _pool_lock:
        if not _pool["users"] and _pool["executor"] is not None:
            _pool["executor"].shutdown(wait=False)
            _pool["executor"] = None
            _pool["timer"] = None


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
