"""Tindak's benchmarks at national scale: one JSON line per figure, and bench/RESULTS.md.

    python bench/run.py                         # 10k and 100k recommendations, SQLite
    python bench/run.py --sizes 1m --skip delivery  # a million: ~12 min (the digests of
                                                   #   20,000 leaders are ~2 min of it)
    python bench/run.py --database-url postgresql+psycopg://user@127.0.0.1:5432/db

For each size the data set comes from bench/generate.py (kept under bench/out/), then each
step runs as its own process, timed from start to exit, with its peak memory (the largest
process, from wait4) and the peak of its whole process tree (render processes included,
sampled from /proc):

  import        `tindak import` of units, people and recommendations into an empty database
  daily_run     plan + render + queue, no delivery (the daily flow's functions, no Prefect)
  daily_flow    the same through the Prefect flow (ephemeral API), on a fresh copy of the
                data; Prefect's start-up is timed apart, on an empty flow
  rerun         the same day again: nothing new may be queued
  digest        every leader's weekly digest, built, rendered and queued
  recs_list     `tindak recs list --format json`

and once per database: `delivery_ratio` (bench/bench_delivery.py: deliver() against a bare
one-connection yagmail loop, to an aiosmtpd server in its own process) and
`delivery_workers` (one, then two processes calling deliver() on the same outbox, against
an SMTP server that takes 20 ms per message; every Message-ID must arrive exactly once).
Figures are merged into bench/results.json, and bench/RESULTS.md is written from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from bench_import import apply_statuses  # noqa: E402
from generate import generate  # noqa: E402

SIZES = {  # recommendations, people, units (a province or ministry: ~20 units a regency)
    "10k": (10_000, 1_000, 200),
    "100k": (100_000, 10_000, 2_000),
    "1m": (1_000_000, 100_000, 20_000),
}
AS_OF = date(2026, 11, 25)
RUN_TINDAK = "import sys; from tindak.cli import main; sys.exit(main(sys.argv[1:]))"
STEPS = str(HERE / "steps.py")
ORDER = ["import", "daily_run", "daily_flow", "prefect_startup", "rerun", "digest",
         "recs_list", "delivery_ratio", "delivery_workers"]


# ---------------------------------------------------------------- measuring a child


def _tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, todo = {root}, [root]
    while todo:
        pid = todo.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                todo.append(child)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def measure(cmd: list[str], env: dict[str, str], stdout=subprocess.PIPE) -> dict:  # type: ignore[no-untyped-def]
    """Run `cmd`: seconds, peak MB of its largest process, peak MB of its process tree, CPU
    seconds (its own and its reaped children's), and the JSON its last line printed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT)
    peak_tree = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not done.is_set():
            peak_tree = max(peak_tree, _tree_rss_kb(proc.pid))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[-3:])} failed ({proc.returncode}):\n{err.decode()[-4000:]}")
    result = {}
    lines = out.decode().strip().splitlines() if out else []
    if lines and lines[-1].startswith("{"):
        result = json.loads(lines[-1])
    return {"seconds": round(seconds, 2), "peak_mb": round(usage.ru_maxrss / 1024),
            "tree_peak_mb": round(max(peak_tree, usage.ru_maxrss) / 1024),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), **result}


# ---------------------------------------------------------------- databases


class Database:
    """A fresh SQLite file in a temporary home, or a fresh schema on PostgreSQL."""

    def __init__(self, admin_url: str | None, home: Path):
        self.admin_url, self.home = admin_url, home
        self.schema: str | None = None
        if admin_url:
            self.schema = f"bench_{secrets.token_hex(4)}"
            self._admin(f"CREATE SCHEMA {self.schema}")
            sep = "&" if "?" in admin_url else "?"
            self.url = f"{admin_url}{sep}options=-csearch_path%3D{self.schema}"
        else:
            self.url = f"sqlite:///{home / 'tindak.db'}"

    @property
    def kind(self) -> str:
        return "postgresql" if self.admin_url else "sqlite"

    def _admin(self, sql: str) -> None:
        engine = sa.create_engine(self.admin_url)  # type: ignore[arg-type]
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
        engine.dispose()

    def snapshot(self) -> None:
        """Keep the imported state, to start the flow figure from the same data."""
        if self.schema:
            self._admin(f"DROP SCHEMA IF EXISTS {self.schema}_s CASCADE")
            self._clone(self.schema, f"{self.schema}_s")
        else:
            self._checkpoint()
            shutil.copy(self.home / "tindak.db", self.home / "snapshot.db")

    def restore(self) -> None:
        if self.schema:
            self._admin(f"DROP SCHEMA {self.schema} CASCADE")
            self._admin(f"ALTER SCHEMA {self.schema}_s RENAME TO {self.schema}")
        else:
            for ext in ("-wal", "-shm"):
                (self.home / f"tindak.db{ext}").unlink(missing_ok=True)
            os.replace(self.home / "snapshot.db", self.home / "tindak.db")

    def _checkpoint(self) -> None:
        engine = sa.create_engine(self.url)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()

    def _clone(self, src: str, dst: str) -> None:
        """A copy of schema `src` (tables, rows, sequences) as `dst`, with pg_dump/psql."""
        url = sa.engine.make_url(self.admin_url)  # type: ignore[arg-type]
        conn = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U",
                url.username or "postgres", url.database or "postgres"]
        env = dict(os.environ, PGPASSWORD=url.password or "")
        dump = subprocess.run(["pg_dump", "--no-owner", "-n", src, *conn], env=env,
                              capture_output=True, check=True).stdout
        # Schema names appear qualified in the dump: rename them all to the copy's.
        sql = dump.replace(f"{src}.".encode(), f"{dst}.".encode()).replace(
            f"SCHEMA {src}".encode(), f"SCHEMA {dst}".encode())
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", *conn], input=sql, env=env,
                       capture_output=True, check=True)

    def drop(self) -> None:
        if self.schema:
            self._admin(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            self._admin(f"DROP SCHEMA IF EXISTS {self.schema}_s CASCADE")


def base_env(home: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TINDAK_", "PREFECT_"))}
    env.update(TINDAK_HOME=str(home), TINDAK_DATABASE_URL=url,
               TINDAK_SECRET_KEY="bench-secret-key", TINDAK_BASE_URL="https://tindak.example.go.id",
               TINDAK_MAIL_FROM="Tindak <tindak@example.go.id>", **extra)
    return env


# ---------------------------------------------------------------- the figures


def figure(name: str, db: str, recs: int, m: dict, per_item: bool = True) -> dict:
    out = {"bench": name, "db": db, "recs": recs,
           **{k: v for k, v in m.items() if k not in ("bench", "db", "recs", "database")}}
    if per_item and recs:
        out["us_per_item"] = round(m["seconds"] / recs * 1e6, 1)
    print(json.dumps(out), flush=True)
    return out


def bench_size(size: str, admin_url: str | None, skip: set[str]) -> list[dict]:
    recs, people, units = SIZES[size]
    data = HERE / "out" / f"recs{recs}-people{people}-units{units}-seed1"
    files = [data / "units.csv", data / "people.csv", data / "recommendations.csv"]
    if not all(f.exists() for f in files):
        generate(data, recs, people, units, 1, AS_OF)
    figs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tindak-bench-") as tmp:
        home = Path(tmp)
        db = Database(admin_url, home)
        env = base_env(home, db.url)
        py = sys.executable
        try:
            # The schema is made by the first command that opens the database, not timed.
            measure([py, "-c", RUN_TINDAK, "holidays", "list", "--year", "2026"], env)
            m = measure([py, "-c", RUN_TINDAK, "import", *map(str, files)], env)
            figs.append(figure("import", db.kind, recs, m))
            apply_statuses(db.url, data / "statuses.tsv")
            if "daily_flow" not in skip:
                db.snapshot()
            m = measure([py, STEPS, "daily", AS_OF.isoformat()], env)
            figs.append(figure("daily_run", db.kind, recs, m))
            m = measure([py, STEPS, "daily", AS_OF.isoformat()], env)
            if m["messages"] or m["notices"]:
                sys.exit(f"the re-run queued {m['messages']} message(s): not exactly once")
            figs.append(figure("rerun", db.kind, recs, m))
            if "digest" not in skip:
                m = measure([py, STEPS, "digest", AS_OF.isoformat()], env)
                figs.append(figure("digest", db.kind, recs, m))
            if "recs_list" not in skip:
                with (home / "list.json").open("wb") as f:
                    m = measure([py, "-c", RUN_TINDAK, "recs", "list", "--format", "json"],
                                env, stdout=f)
                listed = sum(1 for line in (home / "list.json").open(encoding="utf-8")
                             if line.startswith('{"ref"'))
                if listed != recs:
                    sys.exit(f"recs list gave {listed} items, expected {recs}")
                figs.append(figure("recs_list", db.kind, recs, m))
            if "daily_flow" not in skip:
                db.restore()
                m = measure([py, STEPS, "flow", AS_OF.isoformat()], env)
                start = m.pop("prefect_start_s")
                figs.append(figure("daily_flow", db.kind, recs,
                                   {**m, "seconds": m["flow_s"], "process_s": m["seconds"]}))
                figs.append(figure("prefect_startup", db.kind, recs, {"seconds": start},
                                   per_item=False))
        finally:
            db.drop()
    return figs


def bench_delivery_ratio(admin_url: str | None) -> dict:
    cmd = [sys.executable, str(HERE / "bench_delivery.py"), "--n", "2000", "--rounds", "7"]
    with tempfile.TemporaryDirectory(prefix="tindak-bench-") as tmp:
        db = Database(admin_url, Path(tmp))
        try:
            if admin_url:
                cmd += ["--database-url", db.url]
            env = {k: v for k, v in os.environ.items() if not k.startswith("TINDAK_")}
            m = measure(cmd, env)
        finally:
            db.drop()
    return figure("delivery_ratio", db.kind, 0, m, per_item=False)


def _queue_for_workers(url: str, n: int, tag: str) -> None:
    """n rendered reminders straight into the outbox (as bench_delivery does)."""
    from bench_delivery import sample_message

    from models import insert_messages
    from tindak.outbox import new_message_id

    engine = sa.create_engine(url)
    r = sample_message(1)
    now = datetime.now(UTC)
    rows = [dict(key=f"w-{tag}-{i}", kind="reminder", on_date=AS_OF,
                 recipient=f"owner{i}@example.go.id", cc="", subject=r.subject,
                 body_text=r.text, body_html=r.html, message_id=new_message_id(),
                 attachments="[]", status="pending", attempts=0, created_at=now)
            for i in range(n)]
    with engine.begin() as conn:
        insert_messages(conn, rows)
    engine.dispose()


def bench_delivery_workers(admin_url: str | None, n: int = 600, delay: float = 0.02) -> dict:
    """One worker, then two, on the same outbox; the server takes `delay` s per message."""
    from tindak.smtp_sink import SinkHandler, SmtpSink

    class Slow(SinkHandler):
        def __init__(self) -> None:
            super().__init__(None)
            self.ids: Counter[str] = Counter()

        async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
            import asyncio

            await asyncio.sleep(delay)
            data = envelope.original_content or envelope.content
            for line in data.split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    self.ids[line.split(b":", 1)[1].strip().decode()] += 1
                    break
            return "250 OK"

    handler = Slow()
    out: dict = {"messages": n, "server_ms_per_msg": delay * 1000}
    with tempfile.TemporaryDirectory(prefix="tindak-bench-") as tmp, \
            SmtpSink(handler=handler) as sink:
        home = Path(tmp)
        db = Database(admin_url, home)
        # Batches of 50: a worker claims 50 at a time, so two workers share 600 messages.
        env = base_env(home, db.url, TINDAK_SMTP_HOST="127.0.0.1",
                       TINDAK_SMTP_PORT=str(sink.port), TINDAK_SMTP_SECURITY="none",
                       TINDAK_BATCH_SIZE="50")
        try:
            measure([sys.executable, "-c", RUN_TINDAK, "outbox", "list", "--status", "sent"],
                    env)  # makes the schema
            for workers in (1, 2):
                _queue_for_workers(db.url, n, f"{workers}")
                start = time.perf_counter()
                procs = [subprocess.Popen([sys.executable, STEPS, "deliver"], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          cwd=ROOT) for _ in range(workers)]
                sent = 0
                for p in procs:
                    stdout, stderr = p.communicate()
                    if p.returncode:
                        sys.exit(f"deliver failed:\n{stderr.decode()[-3000:]}")
                    sent += json.loads(stdout.decode().strip().splitlines()[-1])["sent"]
                out[f"{'one' if workers == 1 else 'two'}_worker_s"] = round(
                    time.perf_counter() - start, 2)
                if sent != n:
                    sys.exit(f"{workers} worker(s) sent {sent} of {n}")
            engine = sa.create_engine(db.url)
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT message_id, status FROM outbox")).all()
            engine.dispose()
        finally:
            db.drop()
    twice = [mid for mid, k in handler.ids.items() if k > 1]
    if twice or len(handler.ids) != 2 * n or any(r.status != "sent" for r in rows) \
            or {r.message_id for r in rows} != set(handler.ids):
        sys.exit(f"delivery_workers: {len(twice)} message(s) sent twice, "
                 f"{len(handler.ids)} received of {2 * n}")
    out["sent_twice"] = 0
    out["speedup"] = round(out["one_worker_s"] / out["two_worker_s"], 2)
    return figure("delivery_workers", db.kind, 0, {"seconds": out["two_worker_s"], **out},
                  per_item=False)


# ---------------------------------------------------------------- results


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPU ({cpu}), {mem:.0f} GB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}; load average at the "
            f"end {load}")


def save(figs: list[dict], command: str) -> None:
    store = HERE / "results.json"
    data = json.loads(store.read_text()) if store.exists() else {"figures": [], "runs": []}
    keep = {(f["bench"], f["db"], f["recs"]) for f in figs}
    data["figures"] = [f for f in data["figures"]
                       if (f["bench"], f["db"], f["recs"]) not in keep] + figs
    data["runs"] = (data.get("runs", []) + [{
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "command": command,
        "machine": machine()}])[-6:]
    store.write_text(json.dumps(data, indent=1) + "\n")
    (HERE / "RESULTS.md").write_text(render(data))


def _cell(f: dict | None) -> str:
    if f is None:
        return ""
    if f["bench"] == "delivery_ratio":
        return (f"ratio {f['ratio']} ({f['deliver_msgs_per_s']:.0f}/s against "
                f"{f['bare_msgs_per_s']:.0f}/s)")
    if f["bench"] == "delivery_workers":
        return (f"1: {f['one_worker_s']} s, 2: {f['two_worker_s']} s (×{f['speedup']}), "
                f"{f['sent_twice']} twice")
    if f["bench"] == "prefect_startup":
        return f"{f['seconds']} s"
    text = f"{f['seconds']} s · {f['tree_peak_mb']} MB · {f['us_per_item']} µs"
    if "messages" in f and f["bench"] in ("daily_run", "daily_flow", "rerun", "digest"):
        text += f" · {f['messages']} msgs"
    if "plan_s" in f:
        text += f" (plan {f['plan_s']} s, compose {f['compose_s']} s)"
    return text


def _size(recs: int) -> str:
    return f"{recs // 10**6}M" if recs >= 10**6 else f"{recs // 1000}k"


def render(data: dict) -> str:
    figs = data["figures"]
    cols = sorted({(f["db"], f["recs"]) for f in figs if f["recs"]},
                  key=lambda c: (c[0] != "sqlite", c[1]))
    head = ["figure"] + [f"{db} {_size(recs)}" for db, recs in cols]
    lines = ["# Benchmark results", "",
             "Made by `bench/run.py` (see its docstring for what each figure measures). A "
             "cell: wall seconds · peak memory of the process tree (MB) · cost per "
             "recommendation (µs) · messages queued.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in ORDER:
        if name in ("delivery_ratio", "delivery_workers"):
            continue
        row = [name]
        for db, recs in cols:
            match = [f for f in figs if f["bench"] == name and f["db"] == db
                     and f["recs"] == recs]
            row.append(_cell(match[-1] if match else None))
        if any(row[1:]):
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", "| delivery | " + " | ".join(sorted({f["db"] for f in figs})) + " |",
              "|---|" + "---|" * len({f["db"] for f in figs})]
    for name in ("delivery_ratio", "delivery_workers"):
        row = [name]
        for db in sorted({f["db"] for f in figs}):
            match = [f for f in figs if f["bench"] == name and f["db"] == db]
            row.append(_cell(match[-1] if match else None))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Targets (issues 3 and 5), checked against the figures above:", ""]
    lines += [f"- {line}" for line in targets(figs)]
    lines += ["", "Runs that made these figures (latest last):", ""]
    for run in data.get("runs", []):
        lines.append(f"- {run['when']}: `{run['command']}` on {run['machine']}")
    return "\n".join(lines) + "\n"


def targets(figs: list[dict]) -> list[str]:
    """One line per target: the figure, the limit, and whether it holds."""

    def get(name: str, db: str, recs: int, key: str = "seconds") -> float | None:
        match = [f for f in figs if f["bench"] == name and f["db"] == db and f["recs"] == recs]
        return match[-1].get(key) if match else None

    out: list[str] = []

    def check(label: str, value: float | None, limit: float, unit: str = "s",
              at_least: bool = False) -> None:
        if value is None:
            return
        ok = value >= limit if at_least else value <= limit
        sign = "≥" if at_least else "≤"
        out.append(f"{'holds' if ok else 'MISSED'}: {label} {value} {unit} ({sign} {limit})")

    m = 1_000_000
    check("1M daily flow beyond Prefect's start-up (SQLite)", get("daily_flow", "sqlite", m),
          120)
    check("1M daily run, plan + render + queue (SQLite)", get("daily_run", "sqlite", m), 120)
    check("1M daily flow peak memory of the process tree (SQLite)",
          get("daily_flow", "sqlite", m, "tree_peak_mb"), 1536, "MB")
    check("1M re-run of the same day (SQLite)", get("rerun", "sqlite", m), 20)
    check("1M import (SQLite)", get("import", "sqlite", m), 180)
    # "No step loads all items or all messages into memory": every 1M step within 1.5 GB.
    for name in ("import", "daily_run", "rerun", "digest", "recs_list"):
        check(f"1M {name} peak memory of the process tree (SQLite)",
              get(name, "sqlite", m, "tree_peak_mb"), 1536, "MB")
    check("100k daily run (SQLite)", get("daily_run", "sqlite", 100_000), 60)
    check("100k re-run (SQLite)", get("rerun", "sqlite", 100_000), 10)
    for name in ("import", "daily_run", "rerun", "recs_list"):
        costs = [f"{_size(f['recs'])}: {f['us_per_item']} µs" for f in sorted(
            (f for f in figs if f["bench"] == name and f["db"] == "sqlite" and f["recs"]),
            key=lambda f: f["recs"])]
        if len(costs) > 1:
            out.append(f"cost per item, {name} (SQLite): {', '.join(costs)}")
    for recs in sorted({f["recs"] for f in figs if f["db"] == "postgresql" and f["recs"]}):
        for name in ("import", "daily_run", "rerun", "digest", "recs_list"):
            pg, lite = get(name, "postgresql", recs), get(name, "sqlite", recs)
            if pg and lite:
                check(f"{_size(recs)} {name}: PostgreSQL / SQLite", round(pg / lite, 2), 1.5,
                      "×")
    for db in ("sqlite", "postgresql"):
        check(f"delivery ratio against a bare loop ({db})", get("delivery_ratio", db, 0,
                                                                "ratio"), 0.8, "", True)
        check(f"two workers against one at 20 ms a message ({db})",
              get("delivery_workers", db, 0, "speedup"), 1.0, "×", True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10k,100k", help="comma-separated: 10k, 100k, 1m")
    ap.add_argument("--database-url", help="PostgreSQL URL (a fresh schema per size); "
                                           "default: SQLite in a fresh folder")
    ap.add_argument("--skip", default="", help="comma-separated figures to leave out: "
                    "daily_flow, digest, recs_list, delivery")
    ap.add_argument("--no-save", action="store_true", help="print only, keep RESULTS.md")
    args = ap.parse_args(argv)
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        ap.error(f"unknown size(s) {unknown}: use {', '.join(SIZES)}")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    figs: list[dict] = []
    for size in sizes:
        figs += bench_size(size, args.database_url, skip)
    if "delivery" not in skip:
        figs.append(bench_delivery_ratio(args.database_url))
        figs.append(bench_delivery_workers(args.database_url))
    if not args.no_save:
        shown = ["python bench/run.py", f"--sizes {','.join(sizes)}"]
        if args.database_url:
            shown.append("--database-url postgresql+psycopg://…")
        if skip:
            shown.append(f"--skip {','.join(sorted(skip))}")
        save(figs, " ".join(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
