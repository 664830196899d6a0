"""Benchmark the import and `recs list --format json` on a generated national data set.

    python bench/bench_import.py --recs 100000 --people 10000 --units 2000
    python bench/bench_import.py --database-url postgresql+psycopg://user@host:5432/db

Generates the data set with bench/generate.py (or reuses it under bench/out/), imports it
into a fresh TINDAK_HOME (SQLite there by default; on PostgreSQL into a fresh schema that is
dropped afterwards), applies the follow-up statuses, re-imports the same files (nothing
changes), then lists everything as JSON. Each step runs as its own `tindak` process, timed
from start to exit, with its peak memory; one JSON line per figure on stdout.
Targets: import of 100k recommendations ≤ 20 s, `recs list --format json` ≤ 5 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402

RUN_TINDAK = "import sys; from tindak.cli import main; sys.exit(main(sys.argv[1:]))"


def run(args: list[str], env: dict[str, str], stdout) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Run `tindak ARGS` in a child process: (seconds, peak resident MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN_TINDAK, *args], env=env, stdout=stdout,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        sys.exit(f"tindak {' '.join(args[:1])} failed ({proc.returncode}):\n{err[-3000:]}")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def apply_statuses(url: str, path: Path) -> None:
    """Give the items the mixed follow-up states a real office has (the import sets none)."""
    engine = sa.create_engine(url)
    rt = sa.table("recommendation", sa.column("ref"), sa.column("status"),
                  sa.column("progress"))
    stmt = (sa.update(rt).where(rt.c.ref == sa.bindparam("b_ref"))
            .values(status=sa.bindparam("b_status"), progress=sa.bindparam("b_progress")))
    with path.open(encoding="utf-8") as f, engine.begin() as conn:
        rows = [{"b_ref": r["ref"], "b_status": r["status"], "b_progress": int(r["progress"])}
                for r in csv.DictReader(f, delimiter="\t") if r["status"] != "open"]
        if rows:
            conn.execute(stmt, rows)
    engine.dispose()


def fresh_database(url: str | None, home: Path) -> tuple[str, str | None]:
    """(database URL, PostgreSQL schema to drop afterwards)."""
    if not url:
        return f"sqlite:///{home / 'tindak.db'}", None
    schema = f"bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    admin.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", schema


@contextmanager
def bench_home(database_url: str | None) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """A fresh TINDAK_HOME and database: (home, database URL, the environment of a `tindak`
    child there). A PostgreSQL schema made for it is dropped afterwards."""
    with tempfile.TemporaryDirectory(prefix="tindak-bench-") as tmp:
        home = Path(tmp)
        url, schema = fresh_database(database_url, home)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TINDAK_")}
        env.update(TINDAK_HOME=str(home), TINDAK_DATABASE_URL=url)
        try:
            yield home, url, env
        finally:
            if schema and database_url:
                admin = sa.create_engine(database_url)
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                admin.dispose()


def data_set_parser(description: str) -> argparse.ArgumentParser:
    """The options of a benchmark on a generated data set (and its database)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--recs", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--units", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--around", type=date.fromisoformat, default=date(2026, 11, 25))
    ap.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in a fresh home)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = data_set_parser(__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="data set folder (default: under bench/out/)")
    args = ap.parse_args(argv)

    data = args.data or HERE / "out" / (
        f"recs{args.recs}-people{args.people}-units{args.units}-seed{args.seed}")
    files = [data / "units.csv", data / "people.csv", data / "recommendations.csv"]
    if not all(f.exists() for f in files):
        start = time.perf_counter()
        generate(data, args.recs, args.people, args.units, args.seed, args.around)
        print(json.dumps({"bench": "generate", "recs": args.recs,
                          "seconds": round(time.perf_counter() - start, 2)}), flush=True)

    db = "postgresql" if args.database_url else "sqlite"
    with bench_home(args.database_url) as (home, url, env):
        # The schema is created by the first command that opens the database; keep that
        # out of the import's time, as it is in any office that already runs Tindak.
        run(["holidays", "list", "--year", "2026"], env, subprocess.DEVNULL)
        figures = []
        seconds, peak = run(["import", *map(str, files)], env, subprocess.DEVNULL)
        figures.append({"bench": "import", "recs": args.recs, "seconds": round(seconds, 2),
                        "peak_mb": round(peak), "db": db})
        if (data / "statuses.tsv").exists():
            apply_statuses(url, data / "statuses.tsv")
        seconds, peak = run(["import", *map(str, files)], env, subprocess.DEVNULL)
        figures.append({"bench": "reimport_unchanged", "recs": args.recs,
                        "seconds": round(seconds, 2), "peak_mb": round(peak), "db": db})
        out = home / "list.json"
        with out.open("wb") as f:
            seconds, peak = run(["recs", "list", "--format", "json"], env, f)
        listed = sum(1 for line in out.open(encoding="utf-8") if line.startswith('{"ref"'))
        if listed != args.recs:
            sys.exit(f"recs list gave {listed} items, expected {args.recs}")
        figures.append({"bench": "recs_list_json", "recs": listed,
                        "seconds": round(seconds, 2), "peak_mb": round(peak), "db": db})
        for fig in figures:
            print(json.dumps(fig), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
