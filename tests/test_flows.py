"""The flows as Prefect runs them, against a real database and a real SMTP server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tindak.cli import main

pytestmark = pytest.mark.usefixtures("english")  # these read the English words

MONDAY = date(2026, 3, 9)
NOW = datetime(2026, 3, 9, 0, 30, tzinfo=UTC)


def team(make):
    unit = make.unit(code="DISDUKCAPIL", name="Dinas Kependudukan dan Pencatatan Sipil")
    head = make.person(unit=unit, roles="leader;planner", name="Kepala Dinas")
    owner = make.person(unit=unit, supervisor=head, name="Kepala Seksi")
    make.rec(ref="DUK-1", owner=owner, deadline=date(2026, 3, 1), unit=unit)  # 8 days late
    make.rec(ref="DUK-2", owner=owner, deadline=date(2026, 3, 10), unit=unit)  # due tomorrow
    return head, owner


def test_daily_flow_delivers_each_message_once(flows, make, smtp_settings):
    head, owner = team(make)
    first = flows.daily(as_of=MONDAY)
    assert first["messages"] == 2 and first["delivery"]["sent"] == 2
    assert sorted(m["To"] for m in smtp_settings.messages) == sorted([owner.email, head.email])
    again = flows.daily(as_of=MONDAY)
    assert again["messages"] == 0 and again["delivery"]["sent"] == 0
    assert len(smtp_settings.messages) == 2


def test_smtp_down_keeps_mail_queued_and_the_next_run_delivers(flows, make, smtp_settings,
                                                              settings_env):
    settings_env(DELIVERY_RETRIES=0)
    team(make)
    smtp_settings.stop()
    down = flows.daily(as_of=MONDAY)
    assert down["delivery"]["sent"] == 0 and down["delivery"]["pending_left"] == 2
    assert down["delivery"]["stopped"] is True
    smtp_settings.start()
    up = flows.daily(as_of=MONDAY)
    assert up["messages"] == 0 and up["delivery"]["sent"] == 2
    assert len(smtp_settings.messages) == 2


def test_weekly_digest_flow_sends_each_leader_a_chart(flows, make, smtp_settings):
    head, _ = team(make)
    result = flows.digest(as_of=MONDAY)
    assert result["messages"] == 1 and result["delivery"]["sent"] == 1
    msg = smtp_settings.messages[0]
    assert msg["To"] == head.email
    assert any(part.get_content_type() == "image/png" for part in msg.walk())
    assert flows.digest(as_of=MONDAY)["messages"] == 0


def test_cli_run_daily_says_what_was_sent_and_refuses_a_bad_date(
        flows, make, smtp_settings, settings_env, capsys):
    settings_env(DELIVERY_RETRIES=0, LANGUAGE="en")  # the CLI's English words
    team(make)
    assert main(["run", "daily", "--as-of", "2026-03-09"]) == 0
    out = capsys.readouterr().out
    assert "queued 2 message(s)" in out and "2 sent" in out
    assert main(["run", "daily", "--as-of", "10/03/2026"]) == 0  # nothing new is due
    assert main(["run", "daily", "--as-of", "2026-02-30"]) == 1
    assert "is not a date" in capsys.readouterr().err


def test_cli_run_daily_exits_non_zero_when_the_server_is_down(flows, make, smtp_settings,
                                                              settings_env, capsys):
    settings_env(DELIVERY_RETRIES=0)
    team(make)
    smtp_settings.stop()
    assert main(["run", "daily", "--as-of", "2026-03-09"]) == 1
    captured = capsys.readouterr()
    assert "2 still queued" in captured.out
    assert "not delivered" in captured.err and "Traceback" not in captured.err



def test_digest_run_leaves_its_story_in_prefect(flows, make, smtp_settings):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    head, _ = team(make)
    state = flows.digest(as_of=MONDAY, return_state=True)
    assert state.is_completed()
    assert state.message == ("digests: 1 queued for 1 leader(s), 0 already queued this week; "
                             "delivered: 1 sent, 0 failed (will retry), 0 unknown, "
                             "0 still queued")
    assert state.result()["messages"] == 1  # callers still get the summary
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    assert [a.key for a in arts] == ["weekly-digest-all"]
    assert f"| sent | digest | {head.email} |" in arts[0].data


def test_a_runs_story_shows_markup_as_text_and_the_escalations_nobody_got(home):
    from tindak.flowrun import describe, story

    summary = {"items": 3, "notices": 3, "unaddressed": 2, "unaddressed_refs": ["A-1", "B_2"],
               "messages": 1, "by_kind": {"reminder": 1},
               "delivery": {"mode": "smtp", "failed": 1, "errors": [
                   "outbox 1 (a@b.go.id): 550 <script>x</script> | **bold** [y](http://e)"]}}
    lines, ok = describe(summary)
    assert not ok and any("(A-1, B_2)" in str(line) for line in lines)
    md = story(summary, "Daily follow-up 2026-03-09")
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert r"\*\*bold\*\* \[y\](http://e)" in md and r" \| " in md and r"B\_2" in md


@pytest.mark.parametrize("serializer", ["pickle", "json"])
def test_task_results_are_reports_that_prefects_result_storage_gives_back(
        flows, make, serializer):
    """The tasks return their reports (not dicts), and a persisted result (a retry, a
    cache, a result store) comes back as the same report in either of Prefect's formats."""
    from prefect import flow
    from prefect.serializers import Serializer

    from flows.daily import compose, plan_batch
    from flows.digest import plan_batch as digest_batch
    from tindak import digest, followup

    head, _ = team(make)
    storage = {"persist_result": True, "result_serializer": serializer}

    @flow
    def run() -> list:
        ranges = followup.active_id_ranges()
        planned = plan_batch.with_options(**storage)(
            ranges, ranges[0][0], ranges[-1][1], MONDAY, NOW, None, "t-run", return_state=True)
        composed = compose.with_options(**storage)("t-run", MONDAY, None, return_state=True)
        digests = digest_batch.with_options(**storage)(MONDAY, [head.id], head.id, "t-run",
                                                       return_state=True)
        followup.end_run("t-run")
        return [s.result() for s in (planned, composed, digests)]

    planned, composed, digests = run()
    assert isinstance(planned, followup.PlanReport) and planned.notices == 3
    assert isinstance(composed, followup.ComposeReport) and composed.messages == 2
    assert composed.by_kind == {"reminder": 1, "escalation": 1}
    assert isinstance(digests, digest.DigestReport) and digests.messages == 1
    codec = Serializer(type=serializer)  # what a result store writes and reads back
    assert [codec.loads(codec.dumps(r)) for r in (planned, composed, digests)] == [
        planned, composed, digests]
