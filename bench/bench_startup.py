"""The fixed cost of a run: `tindak run daily` on an empty database, as a child process,
timed from start to exit, with Prefect's ephemeral API and with `tindak serve` up.

    python bench/bench_startup.py                 # 5 rounds each way, SQLite
    python bench/bench_startup.py --rounds 9 --database-url postgresql+psycopg://…

Prints one JSON line per figure (median, fastest and slowest wall seconds of the rounds,
median CPU seconds of the process tree), like bench/run.py's figures:

  startup_ephemeral  no server: each run starts Prefect's ephemeral API in a subprocess
  startup_server     `tindak serve` is up: the run finds it (TINDAK_HOME/prefect) and asks it
                     to run the flow (warm, in the serve's process)
  startup_api_url    a bare Prefect server in PREFECT_API_URL (no `tindak serve`): the run
                     imports Prefect and runs the flow in its own process, on that server
  cli_import         `import tindak.cli` alone, the start of every command

Not part of bench/run.py: these figures do not depend on the size of the data.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import RUN_TINDAK, Database, base_env, machine, measure  # noqa: E402

from tindak.runtime import server_answers  # noqa: E402
from tindak.scheduler import stop_server  # noqa: E402

AS_OF = "2026-11-25"


def rounds_of(cmd: list[str], env: dict[str, str], rounds: int) -> dict:
    runs = [measure(cmd, env) for _ in range(rounds)]
    walls = [r["seconds"] for r in runs]
    return {"rounds": rounds, "seconds": round(statistics.median(walls), 2),
            "fastest_s": min(walls), "slowest_s": max(walls),
            "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 2),
            "all_s": walls}


def figure(name: str, db: str, m: dict) -> dict:
    out = {"bench": name, "db": db, **m}
    print(json.dumps(out), flush=True)
    return out


def start_serve(env: dict[str, str], home: Path, port: int) -> subprocess.Popen:
    """`tindak serve` as a user starts it; ready once it has announced its server."""
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", RUN_TINDAK, "serve", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    announced = home / "prefect" / "server.json"
    deadline = time.monotonic() + 300
    while not announced.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            sys.exit(f"tindak serve did not start: {(home / 'serve.log').read_text()[-3000:]}")
        time.sleep(0.5)
    return proc


def start_bare_server(env: dict[str, str], home: Path, port: int) -> subprocess.Popen:
    """`prefect server start` as a Prefect user starts one, no `tindak serve`."""
    log = (home / "bare-server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
         str(port), "--analytics-off"], env=dict(env, PREFECT_HOME=str(home / "bare-prefect")),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while not server_answers(f"http://127.0.0.1:{port}/api"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            sys.exit(f"prefect server did not start: {(home / 'bare-server.log').read_text()}")
        time.sleep(0.5)
    return proc


def stop(proc: subprocess.Popen) -> None:
    stop_server(proc, timeout=60)  # `tindak serve` stops its Prefect server too


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--database-url", default=None, help="PostgreSQL admin URL (else SQLite)")
    ap.add_argument("--port", type=int, default=4271, help="port of the `tindak serve` server")
    args = ap.parse_args()
    run = [sys.executable, "-c", RUN_TINDAK, "run", "daily", "--as-of", AS_OF]
    figs = []
    with tempfile.TemporaryDirectory(prefix="tindak-bench-") as tmp:
        home = Path(tmp)
        db = Database(args.database_url, home)
        env = base_env(home, db.url)
        try:
            measure([sys.executable, "-c", RUN_TINDAK, "holidays", "list"], env)  # the schema
            measure(run, env)  # Prefect's own database is made once, not timed
            figs.append(figure("cli_import", db.kind, rounds_of(
                [sys.executable, "-c", "import tindak.cli"], env, args.rounds)))
            figs.append(figure("startup_ephemeral", db.kind, rounds_of(run, env, args.rounds)))
            serve = start_serve(env, home, args.port)
            try:
                measure(run, env)  # the server's first flow run registers the flow
                m = rounds_of(run, env, args.rounds)
            finally:
                stop(serve)
            figs.append(figure("startup_server", db.kind, m))
            bare = start_bare_server(env, home, args.port + 1)
            try:
                api_env = dict(env, PREFECT_API_URL=f"http://127.0.0.1:{args.port + 1}/api")
                measure(run, api_env)
                m = rounds_of(run, api_env, args.rounds)
            finally:
                stop(bare)
            figs.append(figure("startup_api_url", db.kind, m))
        finally:
            db.drop()
    print(json.dumps({"bench": "machine", "machine": machine()}), flush=True)


if __name__ == "__main__":
    main()
