"""The Prefect user's journey: `tindak run daily` on a real Prefect server, then the run
read back from that server's API as the Prefect UI shows it: its final state and message,
its log, and its artifact listing every message with its recipients."""

from __future__ import annotations

import re
import time
from datetime import date

import pytest

from tests.plugins.prefect import api

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("english")]  # English words


@pytest.fixture(autouse=True)
def info_logs(tindak):  # type: ignore[no-untyped-def]
    """A user's Prefect logs at INFO (the suite's own processes keep to WARNING)."""
    tindak.env["PREFECT_LOGGING_LEVEL"] = "INFO"


def the_run(stdout: str, server_url: str) -> dict:
    """The flow run the command names (it prints the run's address in the UI)."""
    found = re.search(r"Prefect flow run: (\S+)", stdout)
    assert found, stdout
    assert found[1].startswith(server_url.removesuffix("/api") + "/runs/flow-run/")
    return api(server_url, f"/flow_runs/{found[1].rsplit('/', 1)[1]}")  # type: ignore[return-value]


def logs_of(server_url: str, run_id: str, expect: str) -> list[str]:
    """The run's log lines once `expect` is among them (logs travel in batches)."""
    deadline = time.monotonic() + 15
    while True:
        logs = api(server_url, "/logs/filter",
                   {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC"})
        lines = [entry["message"] for entry in logs]  # type: ignore[union-attr]
        if any(expect in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def artifact_of(server_url: str, run_id: str) -> dict:
    found = api(server_url, "/artifacts/filter",
                {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    assert len(found) == 1, found  # type: ignore[arg-type]
    return found[0]  # type: ignore[index]


def team(make):  # type: ignore[no-untyped-def]
    unit = make.unit(code="DISDUKCAPIL", name="Dinas Kependudukan dan Pencatatan Sipil")
    head = make.person(email="kepala.dinas@disdukcapil.go.id", unit=unit,
                       roles="leader;planner", name="Kepala Dinas")
    owner = make.person(email="kasi.pelayanan@disdukcapil.go.id", unit=unit, supervisor=head,
                        name="Kepala Seksi Pelayanan")
    make.rec(ref="DUK-1", owner=owner, deadline=date(2026, 3, 1), unit=unit)  # 8 days late
    make.rec(ref="DUK-2", owner=owner, deadline=date(2026, 3, 10), unit=unit)  # due tomorrow
    return head, owner


def test_a_prefect_user_reads_what_the_daily_run_did_and_whose_mail_failed(
        make, tindak, prefect_server, smtp_settings):
    head, owner = team(make)
    smtp_settings.refuse.add(owner.email)  # the owner's mailbox refuses mail

    out = tindak("run", "daily", "--as-of", "2026-03-09", prefect=True)
    assert out.returncode == 1, out.stderr  # not every message was delivered
    assert "not delivered" in out.stderr and "Traceback" not in out.stderr
    smtp_settings.wait_for(lambda r: head.email in r.rcpt_tos)  # the escalation came

    run = the_run(out.stdout, prefect_server.url)
    assert run["name"] == "daily-2026-03-09"
    assert run["state"]["type"] == "COMPLETED"
    message = run["state"]["message"]
    assert "checked 2 active item(s); planned" in message
    assert "queued 2 message(s) (escalation 1, reminder 1)" in message
    # the escalation reached the supervisor but its Cc refused it for good: not 'sent'
    assert "delivered: 0 sent, 1 failed (will retry)" in message

    lines = logs_of(prefect_server.url, run["id"], "delivery batch 1")
    text = "\n".join(lines)
    assert "checked 2 active item(s)" in text
    assert "queued 2 message(s)" in text
    assert "delivery batch 1: 0 sent, 1 failed" in text
    assert any(owner.email in line and "550" in line for line in lines)

    art = artifact_of(prefect_server.url, run["id"])
    assert art["key"] == "daily-followup-all" and art["type"] == "markdown"
    rows = [line for line in art["data"].splitlines() if line.startswith("| ")]
    failed = next(r for r in rows if r.split("|")[4].strip() == owner.email)
    assert "| failed | reminder |" in failed and "550 5.1.1 No such user here" in failed
    sent = next(r for r in rows if r.split("|")[4].strip() == head.email)
    assert "| dead | escalation |" in sent  # shown for a person to check, never resent alone
    assert sent.split("|")[5].strip() == owner.email  # the owner in Cc, refused there too
    assert f"delivered to {head.email}" in sent and "refused for" in sent
    assert rows.index(failed) < rows.index(sent)  # what needs attention first


def test_a_run_without_smtp_tells_prefect_where_the_eml_files_are(make, tindak,
                                                                   prefect_server, home):
    head, owner = team(make)

    out = tindak("run", "daily", "--as-of", "2026-03-09", "--timezone", "Asia/Jakarta",
                 prefect=True)
    assert out.returncode == 0, out.stderr
    emls = sorted(p.name for p in (home / "outbox").glob("*.eml"))
    assert len(emls) == 2

    run = the_run(out.stdout, prefect_server.url)
    assert run["state"]["type"] == "COMPLETED"
    assert "no SMTP host set (TINDAK_SMTP_HOST): wrote 2 .eml file(s)" in run["state"]["message"]
    art = artifact_of(prefect_server.url, run["id"])
    assert art["key"] == "daily-followup-wib"
    for who in (head.email, owner.email):
        row = next(r for r in art["data"].splitlines() if r.startswith("| ")
                   and r.split("|")[4].strip() == who)
        assert "| sent |" in row
        name = next(n for n in emls if n.endswith(f"{who}.eml"))
        assert f"written to {name.replace('_', chr(92) + '_')}" in row
