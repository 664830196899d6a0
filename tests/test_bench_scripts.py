"""The benchmark scripts still run against today's code: a bench that breaks unseen (as
bench_delivery.py did when the schema step stopped being a side effect of getting an engine)
gives no figures when the next session needs them. Small sizes; no timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_delivery_sends_every_queued_message_through_the_outbox(tmp_path: Path) -> None:
    # the script makes its own TINDAK_HOME (SQLite); the test's settings stay out of it
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINDAK_")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_delivery.py"), "--n", "30", "--rounds", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # the script itself checks that deliver() sent all 30 and the sink received them
    assert result["n"] == 30 and result["database"] == "sqlite"
    assert result["deliver_msgs_per_s"] > 0 and result["bytes_per_msg"] > 1000
