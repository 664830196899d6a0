"""Benchmark `tindak report` (SPEC §8) on a generated national data set.

    python bench/bench_report.py --recs 100000 --people 10000 --units 2000
    python bench/bench_report.py --recs 10000 --people 1000 --units 200 --skip-pdf-all

Generates the data set with bench/generate.py (or reuses it under bench/out/), imports it
into a fresh TINDAK_HOME (SQLite, or a fresh PostgreSQL schema with --database-url),
applies the follow-up statuses, then writes the report of everything as XLSX and as PDF,
and the PDF of one province's tree (what one office's evaluator asks for). Each step runs
as its own `tindak` process, timed from start to exit, with its peak memory; one JSON line
per figure on stdout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_import import apply_statuses, bench_home, data_set_parser, run  # noqa: E402
from generate import generate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = data_set_parser(__doc__.split("\n\n")[0])
    ap.add_argument("--skip-pdf-all", action="store_true",
                    help="leave out the PDF of every item (the slowest figure)")
    ap.add_argument("--xlsx-only", action="store_true", help="only the XLSX of every item")
    ap.add_argument("--keep", type=Path, help="copy the reports into this folder, to look at")
    args = ap.parse_args(argv)

    data = HERE / "out" / f"recs{args.recs}-people{args.people}-units{args.units}-seed{args.seed}"
    files = [data / "units.csv", data / "people.csv", data / "recommendations.csv"]
    if not all(f.exists() for f in files):
        generate(data, args.recs, args.people, args.units, args.seed, args.around)
    db = "postgresql" if args.database_url else "sqlite"
    with bench_home(args.database_url) as (home, url, env):
        run(["import", *map(str, files)], env, subprocess.DEVNULL)
        if (data / "statuses.tsv").exists():
            apply_statuses(url, data / "statuses.tsv")
        engine = sa.create_engine(url)
        with engine.connect() as conn:  # the first top unit: a province's tree
            province = conn.exec_driver_sql(
                "SELECT code FROM unit WHERE parent_id IS NULL ORDER BY id LIMIT 1").scalar()
        engine.dispose()
        steps = [("report_xlsx_all", ["--as-of", args.around.isoformat()], ".xlsx"),
                 ("report_pdf_province", ["--unit", str(province), "--as-of",
                                          args.around.isoformat()], ".pdf")]
        if args.xlsx_only:
            steps = steps[:1]
        elif not args.skip_pdf_all:
            steps.append(("report_pdf_all", ["--as-of", args.around.isoformat()], ".pdf"))
        for name, extra, suffix in steps:
            out = home / f"{name}{suffix}"
            log = home / f"{name}.log"
            with log.open("wb") as f:
                seconds, peak = run(["report", str(out), *extra], env, f)
            said = log.read_text().strip()
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(out, args.keep / out.name)
            print(json.dumps({"bench": name, "recs": args.recs, "seconds": round(seconds, 2),
                              "peak_mb": round(peak), "file_mb": round(
                                  out.stat().st_size / 1e6, 2), "db": db, "said": said}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
