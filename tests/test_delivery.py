"""Outbox delivery against a real SMTP server (aiosmtpd) and a real database."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa

from models import Outbox, get_engine, insert_messages
from tests.plugins.threads import at_once
from tindak import outbox
from tindak.errors import DeliveryError, InvalidInput, NotFound
from tindak.outbox import new_message_id

pytestmark = pytest.mark.usefixtures("english")  # these read the English words

T = Outbox.__table__
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
NOW = datetime(2026, 2, 2, 0, 30, tzinfo=UTC)


def queue(n: int = 1, **over) -> list[int]:
    """Write n messages straight into the outbox (what the follow-up engine does)."""
    rows = []
    for i in range(n):
        row = dict(
            key=f"k-{new_message_id()}", kind="reminder", on_date=date(2026, 2, 2),
            recipient=f"owner{i}@example.go.id", cc="", subject=f"[Tindak] message {i}",
            body_text=f"Text {i}\n", body_html=f"<p>HTML {i}</p>",
            message_id=new_message_id(), attachments="[]", status="pending", attempts=0,
            created_at=NOW,
        )
        row.update(over)
        rows.append(row)
    with get_engine(writer=True).begin() as conn:
        ids = insert_messages(conn, rows)
        return [ids[r["key"]] for r in rows]


def statuses() -> dict[int, str]:
    with get_engine().connect() as conn:
        return dict(conn.execute(sa.select(T.c.id, T.c.status).order_by(T.c.id)).all())


def row(oid: int):
    with get_engine().connect() as conn:
        return conn.execute(sa.select(T).where(T.c.id == oid)).one()


def test_queued_messages_are_sent_once_and_a_second_run_sends_nothing(smtp_settings):
    ids = queue(3)
    report = outbox.deliver()
    assert (report.sent, report.pending_left, report.mode, report.errors) == (3, 0, "smtp", [])
    assert set(statuses().values()) == {"sent"}
    assert row(ids[0]).sent_at is not None
    again = outbox.deliver()
    assert again.sent == 0
    assert len(smtp_settings.received) == 3


def test_a_message_arrives_as_multipart_alternative_with_real_text(smtp_settings):
    queue(1, subject="[Tindak] 1 rekomendasi: 1 terlambat",
          body_text="Yth. Bapak/Ibu Budi,\n\nAda 1.\n",
          body_html="<html><body><p>Yth. <b>Bapak/Ibu</b> Budi</p></body></html>")
    outbox.deliver()
    (msg,) = smtp_settings.messages
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert "<" not in text.get_content() and "Yth. Bapak/Ibu Budi," in text.get_content()
    assert "<b>Bapak/Ibu</b>" in html.get_content()
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"].datetime == NOW
    assert msg["From"].addresses[0].addr_spec == "tindak@pemkot.example.go.id"


def test_same_sender_recipient_subject_still_get_unique_message_ids(smtp_settings):
    queue(2, recipient="same@example.go.id", subject="[Tindak] same")
    outbox.deliver()
    ids = smtp_settings.message_ids()
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(i.endswith("@pemkot.example.go.id>") for i in ids)


def test_the_stored_message_id_is_the_one_sent(smtp_settings):
    mid = new_message_id()
    queue(1, message_id=mid)
    outbox.deliver()
    assert smtp_settings.message_ids() == [mid]


def test_cc_is_delivered_to_the_cc_address(smtp_settings):
    queue(1, recipient="atasan@example.go.id", cc="staf@example.go.id,atasan@example.go.id")
    outbox.deliver()
    (got,) = smtp_settings.received
    assert got.rcpt_tos == ("atasan@example.go.id", "staf@example.go.id")
    assert got.mail_from == "tindak@pemkot.example.go.id"
    assert "staf@example.go.id" in str(got.message["Cc"])


def test_non_ascii_subject_and_names_survive(smtp_settings, settings_env):
    settings_env(MAIL_FROM="Dinas Ṡosial — Tindak <tindak@dinsos.example.go.id>")
    queue(1, recipient="Budi Ṡantoso <budi@example.go.id>",
          subject="[Tindak] 2 rekomendasi – tenggat 2 Februari 2026 ✓")
    outbox.deliver()
    (got,) = smtp_settings.received
    assert got.data.isascii()  # encoded on the wire, whatever the server supports
    msg = got.message
    assert msg["Subject"] == "[Tindak] 2 rekomendasi – tenggat 2 Februari 2026 ✓"
    assert msg["To"].addresses[0].display_name == "Budi Ṡantoso"
    assert msg["From"].addresses[0].display_name == "Dinas Ṡosial — Tindak"
    assert got.rcpt_tos == ("budi@example.go.id",)


def test_a_subject_with_line_breaks_cannot_forge_headers(smtp_settings):
    queue(1, subject="Hello\r\nBcc: victim@evil.example\r\nX-Forged: yes")
    outbox.deliver()
    (got,) = smtp_settings.received
    assert got.message["Bcc"] is None and got.message["X-Forged"] is None
    assert got.message["Subject"] == "Hello Bcc: victim@evil.example X-Forged: yes"
    assert got.rcpt_tos == ("owner0@example.go.id",)


def test_a_recipient_with_line_breaks_is_refused_not_sent(smtp_settings):
    (oid,) = queue(1, recipient="a@example.go.id\r\nBcc: victim@evil.example")
    report = outbox.deliver()
    assert report.dead == 1 and report.sent == 0
    assert "line break" in row(oid).last_error
    assert smtp_settings.received == []


def test_inline_chart_travels_as_multipart_related_with_its_cid(smtp_settings):
    queue(1, kind="digest", body_html='<p><img src="cid:chart.1@tindak"></p>',
          attachments=json.dumps([{"cid": "chart.1@tindak", "mime": "image/png", "b64": PNG}]))
    outbox.deliver()
    (msg,) = smtp_settings.messages
    html = msg.get_body(("html",))
    assert "cid:chart.1@tindak" in html.get_content()
    related = msg.get_payload()[1]
    assert related.get_content_type() == "multipart/related"
    (img,) = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert img["Content-ID"] == "<chart.1@tindak>"
    assert img.get_content() == base64.b64decode(PNG)


def test_a_refused_recipient_fails_and_the_next_run_delivers_it(smtp_settings):
    (ok,) = queue(1, recipient="x@example.go.id")
    (bad,) = queue(1, recipient="nobody@example.go.id")
    smtp_settings.refuse.add("nobody@example.go.id")
    first = outbox.deliver()
    assert (first.sent, first.failed) == (1, 1)
    r = row(bad)
    assert (r.status, r.attempts) == ("failed", 1)
    assert "550" in r.last_error and "nobody@example.go.id" in first.errors[0]
    assert statuses()[ok] == "sent"
    smtp_settings.refuse.clear()
    second = outbox.deliver()
    assert (second.sent, second.failed, second.pending_left) == (1, 0, 0)
    assert [m.rcpt_tos for m in smtp_settings.received].count(("nobody@example.go.id",)) == 1


def test_a_failed_message_is_not_retried_within_the_same_run(smtp_settings):
    (oid,) = queue(1, recipient="nobody@example.go.id")
    smtp_settings.refuse.add("nobody@example.go.id")
    report = outbox.deliver()
    assert report.failed == 1 and row(oid).attempts == 1


def test_a_message_becomes_dead_after_max_attempts_and_retry_requeues_it(
        smtp_settings, settings_env):
    settings_env(MAX_ATTEMPTS=2)
    (oid,) = queue(1, recipient="nobody@example.go.id")
    smtp_settings.refuse.add("nobody@example.go.id")
    outbox.deliver()
    report = outbox.deliver()
    assert report.dead == 1 and row(oid).status == "dead"
    assert outbox.deliver().failed == 0  # dead rows are left alone
    smtp_settings.refuse.clear()
    assert outbox.retry(oid)["was"] == "dead"
    assert outbox.deliver().sent == 1


def test_a_temporary_refusal_of_everything_keeps_messages_for_the_next_run(smtp_settings):
    queue(3)
    smtp_settings.temp_fail = True
    report = outbox.deliver()
    assert report.failed == 3 and report.sent == 0
    assert all("451" in (row(i).last_error or "") for i in statuses())
    smtp_settings.temp_fail = False
    assert outbox.deliver().sent == 3


def test_server_down_keeps_messages_pending_with_a_clear_error(smtp_settings):
    ids = queue(2)
    smtp_settings.stop()
    report = outbox.deliver()
    assert report.sent == 0 and report.stopped and report.pending_left == 2
    assert "cannot use SMTP server 127.0.0.1" in report.errors[0]
    assert set(statuses().values()) == {"pending"}
    assert row(ids[0]).attempts == 0 and "cannot use SMTP server" in row(ids[0]).last_error
    with pytest.raises(DeliveryError, match="cannot use SMTP server"):
        report.raise_if_stopped()
    smtp_settings.start()
    assert outbox.deliver().sent == 2


def test_a_hang_up_during_data_marks_unknown_and_is_never_resent(smtp_settings):
    first, *rest = queue(3)
    smtp_settings.drop_data = True
    report = outbox.deliver()
    assert (report.unknown, report.sent, report.stopped) == (1, 0, True)
    assert statuses() == {first: "unknown", rest[0]: "pending", rest[1]: "pending"}
    assert [r["id"] for r in outbox.list_outbox("unknown")] == [first]
    assert "may have accepted" in outbox.list_outbox("unknown")[0]["last_error"]
    smtp_settings.drop_data = False
    again = outbox.deliver()
    assert again.sent == 2 and statuses()[first] == "unknown"
    assert len(smtp_settings.dropped) == 1 and len(smtp_settings.received) == 2


def test_a_slow_server_beyond_the_timeout_leaves_the_message_unknown(smtp_settings, settings_env):
    settings_env(SMTP_TIMEOUT=0.2)
    (oid,) = queue(1)
    smtp_settings.delay = 0.6
    report = outbox.deliver()
    assert report.unknown == 1 and row(oid).status == "unknown"
    assert "timed out" in row(oid).last_error


def test_stale_claimed_goes_back_to_pending_and_stale_sending_to_unknown(
        smtp_settings, settings_env):
    settings_env(DELIVERY_LEASE_SECONDS=60)
    claimed, sending, fresh = queue(3)
    old, recent = NOW - timedelta(minutes=5), NOW - timedelta(seconds=10)
    with get_engine(writer=True).begin() as conn:
        for oid, st, at in ((claimed, "claimed", old), (sending, "sending", old),
                            (fresh, "claimed", recent)):
            conn.execute(T.update().where(T.c.id == oid)
                         .values(status=st, claimed_by="dead-run", claimed_at=at))
    report = outbox.recover_stale(now=NOW)
    assert (report.requeued, report.unknown) == (1, 1)
    assert statuses() == {claimed: "pending", sending: "unknown", fresh: "claimed"}
    outbox.deliver(now=NOW)
    assert statuses() == {claimed: "sent", sending: "unknown", fresh: "claimed"}
    assert smtp_settings.received[0].message["Message-ID"] == row(claimed).message_id


def test_retry_refuses_sent_and_pending_messages(smtp_settings):
    sent, pending = queue(2)
    outbox.deliver(limit=1)
    assert statuses() == {sent: "sent", pending: "pending"}
    with pytest.raises(InvalidInput, match="already sent"):
        outbox.retry(sent)
    with pytest.raises(InvalidInput, match="already queued"):
        outbox.retry(pending)
    with pytest.raises(NotFound):
        outbox.retry(999_999)
    with pytest.raises(InvalidInput, match="unknown outbox status"):
        outbox.list_outbox("lost")


def test_two_runs_at_once_deliver_each_message_exactly_once(smtp_settings, settings_env):
    settings_env(BATCH_SIZE=25)
    queue(200)
    reports = at_once(outbox.deliver, 3)
    ids = smtp_settings.message_ids()
    assert len(ids) == 200 and len(set(ids)) == 200
    assert sum(r.sent for r in reports) == 200
    assert set(statuses().values()) == {"sent"}


def test_deliver_batch_takes_one_batch_and_says_when_nothing_is_left(smtp_settings, settings_env):
    settings_env(BATCH_SIZE=2)
    queue(3)
    run_id = outbox.new_run_id()
    assert outbox.recover_stale().requeued == 0
    assert outbox.deliver_batch(run_id).sent == 2
    assert outbox.deliver_batch(run_id).sent == 1
    assert outbox.deliver_batch(run_id) is None


def test_without_smtp_host_messages_become_parseable_eml_files(home):
    ids = queue(2, recipient="Budi <budi/../x@example.go.id>", subject="[Tindak] Ṡubjek")
    report = outbox.deliver()
    assert (report.mode, report.eml_written, report.sent) == ("eml", 2, 2)
    assert "written as .eml files" in report.summary()
    files = outbox.eml_files()
    assert [f.parent for f in files] == [home / "outbox"] * 2
    assert all("/" not in f.name.replace(f.suffix, "") for f in files)
    msg = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg["Subject"] == "[Tindak] Ṡubjek"
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Text 0\n"
    assert row(ids[0]).eml_path == str(files[0])
    assert outbox.deliver().eml_written == 0


def test_security_settings_map_to_yagmail(settings_env):
    settings_env(SMTP_HOST="mail.example.go.id", SMTP_SECURITY="ssl",
                 SMTP_USER="tindak", SMTP_PASSWORD="s3cret")
    from tindak.settings import get_settings

    opts = outbox.smtp_options(get_settings())
    assert (opts["smtp_ssl"], opts["smtp_starttls"], opts["port"]) == (True, False, 465)
    assert (opts["user"], opts["password"], opts["smtp_skip_login"]) == (
        {"tindak": "tindak"}, "s3cret", False)  # a dict: yagmail would append @gmail.com
    assert opts["context"].verify_mode.name == "CERT_REQUIRED"
    settings_env(SMTP_SECURITY="starttls")
    opts = outbox.smtp_options(get_settings())
    assert (opts["smtp_ssl"], opts["port"]) == (False, 587)
    assert opts["smtp_starttls"]["context"].check_hostname
    settings_env(SMTP_SECURITY="none", SMTP_USER="", SMTP_PASSWORD="")
    opts = outbox.smtp_options(get_settings())
    assert (opts["smtp_ssl"], opts["smtp_starttls"]) == (False, False)
    assert opts["smtp_skip_login"] and opts["user"] is None


def test_a_user_without_password_is_refused_by_the_settings(settings_env):
    from tindak.errors import ConfigError
    from tindak.settings import get_settings

    settings_env(SMTP_HOST="mail.example.go.id", SMTP_USER="tindak")
    with pytest.raises(ConfigError, match="PASSWORD"):
        get_settings()


def test_ssl_against_a_plain_server_fails_cleanly_and_keeps_the_queue(
        smtp_settings, settings_env):
    settings_env(SMTP_SECURITY="ssl")
    queue(1)
    report = outbox.deliver()
    assert report.stopped and report.sent == 0 and report.pending_left == 1
    assert "cannot use SMTP server" in report.errors[0]


def test_a_run_killed_mid_batch_never_sends_twice_and_loses_nothing(smtp_settings, settings_env):
    import subprocess
    import sys
    import time

    settings_env(DELIVERY_LEASE_SECONDS=1)
    queue(30)
    smtp_settings.delay, smtp_settings.delay_after = 30, 5  # the 6th message hangs
    code = "from tindak import outbox; outbox.deliver()"
    child = subprocess.Popen([sys.executable, "-c", code])  # inherits the test's TINDAK_*
    try:
        deadline = time.monotonic() + 20
        while len(smtp_settings.received) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the 6th is now in flight
    finally:
        child.kill()
        child.wait()
    smtp_settings.delay = 0
    later = datetime.now(UTC) + timedelta(seconds=5)
    recovered = outbox.recover_stale(now=later)
    assert recovered.unknown >= 1 and recovered.requeued >= 1
    report = outbox.deliver(now=later)
    assert report.sent == 30 - recovered.unknown
    time.sleep(0.1)
    ids = smtp_settings.message_ids()
    assert len(ids) == len(set(ids))  # nothing twice
    st = statuses()
    assert set(st.values()) == {"sent", "unknown"}
    unknown = {row(i).message_id for i, s in st.items() if s == "unknown"}
    assert {row(i).message_id for i, s in st.items() if s == "sent"} <= set(ids)
    assert len(unknown - set(ids)) <= 1  # at most the one cut off in flight was not taken


# ---------------------------------------------------------------- per recipient (RFC 5321 §4.5.4)


def test_a_to_refused_for_now_is_retried_alone_and_the_cc_never_gets_it_twice(smtp_settings):
    (oid,) = queue(1, recipient="full@example.go.id", cc="atasan@example.go.id")
    smtp_settings.temp_refuse.add("full@example.go.id")
    first = outbox.deliver()
    assert [r.rcpt_tos for r in smtp_settings.received] == [("atasan@example.go.id",)]
    assert (first.sent, first.failed, first.partly_sent) == (0, 1, 1)
    assert row(oid).status == "failed"
    assert "full@example.go.id: 452" in first.errors[0]
    smtp_settings.temp_refuse.clear()
    second = outbox.deliver()
    assert (second.sent, second.failed) == (1, 0)
    assert [r.rcpt_tos for r in smtp_settings.received] == [
        ("atasan@example.go.id",), ("full@example.go.id",)]
    # The same message (one Message-ID), its headers still naming both.
    assert len(set(smtp_settings.message_ids())) == 1
    assert smtp_settings.messages[1]["Cc"] == "atasan@example.go.id"
    assert row(oid).status == "sent" and outbox.deliver().sent == 0


def test_a_recipient_refused_for_now_until_max_attempts_ends_dead(smtp_settings, settings_env):
    settings_env(MAX_ATTEMPTS=2)
    (oid,) = queue(1, recipient="owner@example.go.id", cc="full@example.go.id")
    smtp_settings.temp_refuse.add("full@example.go.id")
    outbox.deliver()
    assert outbox.deliver().dead == 1 and row(oid).status == "dead"
    assert [r.rcpt_tos for r in smtp_settings.received] == [("owner@example.go.id",)]
    assert "452" in row(oid).last_error


def test_a_permanently_refused_cc_is_shown_per_recipient_and_not_retried_by_itself(
        smtp_settings, tindak):
    (oid,) = queue(1, recipient="owner@example.go.id", cc="nobody@example.go.id")
    smtp_settings.refuse.add("nobody@example.go.id")
    report = outbox.deliver()
    assert (report.sent, report.dead, report.partly_sent) == (0, 1, 1)
    assert row(oid).status == "dead"
    assert outbox.deliver().sent == 0 and len(smtp_settings.received) == 1
    out = tindak("outbox", "list")
    assert out.returncode == 0, out.stderr
    assert "owner@example.go.id: accepted" in out.stdout
    assert "nobody@example.go.id: refused 550 5.1.1 No such user here" in out.stdout
    [listed] = outbox.list_outbox("dead")
    assert {(r["address"], r["state"]) for r in listed["recipients"]} == {
        ("owner@example.go.id", "accepted"), ("nobody@example.go.id", "refused")}
    # Once the address exists, a retry goes to it alone.
    smtp_settings.refuse.clear()
    outbox.retry(oid)
    assert outbox.deliver().sent == 1 and row(oid).status == "sent"
    assert [r.rcpt_tos for r in smtp_settings.received] == [
        ("owner@example.go.id",), ("nobody@example.go.id",)]


# ---------------------------------------------------------------- a run tells what happened


@pytest.mark.skipif(bool(os.environ.get("TINDAK_TEST_DATABASE_URL")),
                    reason="SQLite's busy timeout; PostgreSQL waits for a lock without one")
def test_a_writer_holding_the_lock_mid_run_does_not_make_the_run_misreport(
        smtp_settings, monkeypatch):
    import models.db
    from tindak.flowrun import describe

    monkeypatch.setattr(models.db, "BUSY_TIMEOUT_MS", 300)  # the same failure, sooner
    models.db.dispose_engines()
    queue(21)
    path = get_engine().url.database
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def lock_after_six(n: int) -> None:
        if n == 6:  # another writer takes the lock while the 6th message is answered
            holder.execute("BEGIN IMMEDIATE")

    smtp_settings.before_reply = lock_after_six
    try:
        report = outbox.deliver()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(smtp_settings.received) == 6
    assert (report.sent, report.unmarked, report.in_flight_left, report.pending_left) == (
        6, 6, 21, 0)
    assert report.stopped and not report.ok
    assert any("database is locked" in e for e in report.errors)
    lines = [str(line) for line in describe({"delivery": asdict(report)})[0]]
    assert lines[0].startswith("delivered: 6 sent")
    assert "21 still claimed (the next run recovers them)" in lines[1]
    assert "6 handled but not recorded" in lines[1]
    # The next run after the lease: the 15 untouched go out, the 6 sent are never resent.
    later = outbox.deliver(now=datetime.now(UTC) + timedelta(hours=1))
    assert (later.sent, later.unknown, later.in_flight_left) == (15, 6, 0)
    ids = smtp_settings.message_ids()
    assert len(ids) == 21 and len(set(ids)) == 21
