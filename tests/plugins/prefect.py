"""Real Prefect flow runs: one test harness (a temporary Prefect API) per test session."""

from __future__ import annotations

import json
import os
import tempfile
import urllib.request
from collections.abc import Iterator

import pytest

# Prefect reads its settings when first imported: point it at a throwaway home, offline.
_home = tempfile.mkdtemp(prefix="tindak-prefect-")
os.environ.setdefault("PREFECT_HOME", _home)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "true"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)


def api(url: str, path: str, body: dict | None = None) -> object:
    """GET (or, with a `body`, POST) `path` of a Prefect server's API at `url`: its JSON."""
    req = urllib.request.Request(f"{url}{path}", method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """Enter prefect_test_harness once (it costs seconds) for every test that runs flows."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def flows(prefect_api, home):  # type: ignore[no-untyped-def]
    """The flow functions, run for real against the test's database."""
    from flows.daily import daily_followup
    from flows.digest import weekly_digest

    class Flows:
        daily = staticmethod(daily_followup)
        digest = staticmethod(weekly_digest)

    return Flows
