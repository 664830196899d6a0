"""Child processes for the kill trials; settings come from TINDAK_* in the environment.

    python tests/faults/child.py zygote

imports Tindak once, says 'zygote', then obeys lines on stdin:

    fork MODE [KEY=VALUE ...] [-- ARG ...]   a new process (os.fork) with TINDAK_KEY=VALUE;
                                             it opens the database, says 'ready PID', waits
    go PID                                   it starts its work; says 'done PID {...}' at the end
    reap PID                                 says 'exit PID CODE' once it has ended (-9: killed)

Modes: `deliver` (tindak.outbox.deliver(), what `tindak run daily` ends with) and
`plan-compose AS_OF PLAN_BATCH COMPOSE_BATCH [WORKERS]` (the daily flow's planning and
composing, batch by batch as its tasks run them; with WORKERS, rendered by that many
processes however few the messages). A fork costs milliseconds where a fresh interpreter
costs a second of imports: the test can afford many trials, each a real process with its
own database and SMTP connections, killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from datetime import date


def work(mode: str, args: list[str]) -> dict:
    from tindak import followup, outbox

    if mode == "deliver":
        return asdict(outbox.deliver())
    if mode == "plan-compose":
        as_of, plan_batch, compose_batch = date.fromisoformat(args[0]), int(args[1]), int(args[2])
        workers = int(args[3]) if len(args) > 3 else None
        if workers:
            from tindak.followup import compose

            compose.POOL_MIN_MESSAGES = 1
        notices = 0
        for lo, hi in followup.active_id_ranges(size=plan_batch):
            notices += followup.plan_range(lo, hi, as_of=as_of).notices
            print(f"planned {os.getpid()} {lo}-{hi}", flush=True)
        composed = followup.compose_pending(batch=compose_batch, workers=workers)
        return {"notices": notices, "messages": composed.messages}
    raise SystemExit(f"unknown mode {mode!r}")


def child(mode: str, settings: list[str], args: list[str], go: int) -> None:
    from models import dispose_engines, get_engine
    from tindak.settings import reset_settings

    for pair in settings:
        key, _, value = pair.partition("=")
        os.environ[f"TINDAK_{key.upper()}"] = value
    reset_settings()
    dispose_engines()
    get_engine()
    get_engine(writer=True)
    print(f"ready {os.getpid()}", flush=True)
    os.read(go, 3)
    summary = work(mode, args)
    print(f"done {os.getpid()} {json.dumps(summary, default=str)}", flush=True)


def zygote() -> None:
    # The imports a fork inherits (the schema check and both database drivers included).
    import alembic.command  # noqa: F401
    import alembic.runtime.migration  # noqa: F401
    import alembic.script  # noqa: F401
    import psycopg  # noqa: F401
    import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401
    import sqlalchemy.dialects.sqlite.pysqlite  # noqa: F401

    import models  # noqa: F401
    from tindak import followup, outbox  # noqa: F401

    print("zygote", flush=True)
    gates: dict[int, int] = {}
    for line in sys.stdin:
        cmd, *rest = line.split()
        if cmd == "fork":
            mode, *more = rest
            cut = more.index("--") if "--" in more else len(more)
            r, w = os.pipe()
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                os.close(w)
                code = 0
                try:
                    child(mode, more[:cut], more[cut + 1:], r)
                except BaseException as exc:  # shown to the test, which fails on it
                    print(f"error {os.getpid()} {type(exc).__name__}: {exc}", flush=True)
                    code = 1
                finally:
                    sys.stdout.flush()
                    os._exit(code)
            os.close(r)
            gates[pid] = w
        elif cmd == "go":
            w = gates.pop(int(rest[0]))
            os.write(w, b"go\n")
            os.close(w)
        elif cmd == "reap":
            pid = int(rest[0])
            _, status = os.waitpid(pid, 0)
            print(f"exit {pid} {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["zygote"]:
        raise SystemExit(__doc__)
    zygote()
