"""`tindak` exactly as a user runs it (`tindak.cli.main`), in a child process, with
test-only knobs read from FAULTS_* variables:

- FAULTS_WAIT=1: import everything, print 'ready' and wait for a line on stdin, so that
  two children can be started at the very same moment;
- FAULTS_BUSY_TIMEOUT_MS=N: SQLite's busy timeout (30 s in Tindak) made shorter;
- FAULTS_NO_RETRY_DELAY=1: the daily flow's plan and compose tasks retry without their
  2 s and 10 s pauses (the retry policy itself is unchanged).
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    ms = os.environ.get("FAULTS_BUSY_TIMEOUT_MS")
    if ms:
        import models.db

        models.db.BUSY_TIMEOUT_MS = int(ms)
    if os.environ.get("FAULTS_NO_RETRY_DELAY"):
        import flows.daily as daily

        daily.plan_batch = daily.plan_batch.with_options(retry_delay_seconds=0)
        daily.compose = daily.compose.with_options(retry_delay_seconds=0)
    from tindak.cli import main as tindak

    if os.environ.get("FAULTS_WAIT"):
        import flows.daily  # noqa: F401  (the heavy imports, before the start signal)

        print("ready", flush=True)
        sys.stdin.readline()
    return tindak(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
