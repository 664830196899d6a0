"""The Berita Acara's participants uploaded on the planner's import page (SPEC §7): each is
invited at once by mail, exactly as `tindak import` does, and nobody is subscribed until
they confirm; a wrong row writes and sends nothing."""

from __future__ import annotations

import html

import sqlalchemy as sa

from models import Outbox, Subscriber, messages, session

PARTICIPANTS = ("forum,forum_date,name,email,organisation\n"
                "FKP Dinas Sosial 2026,2026-01-12,Ibu Rina,rina@lsm.example.org,LSM Peduli\n"
                "FKP Dinas Sosial 2026,12/01/2026,Pak Joko,JOKO@kampus.example.ac.id,Kampus\n")


def _upload(client, body: str, **fields: str):  # type: ignore[no-untyped-def]
    return client.post_form("/kelola/impor", fields,
                            files=[("files", ("peserta.csv", body.encode(), "text/csv"))],
                            csrf_from="/kelola/impor")


def _subscribers() -> list[str]:
    with session() as s:
        return sorted(s.execute(sa.select(Subscriber.email)).scalars())


def test_participants_uploaded_on_the_web_are_invited_at_once_and_only_once(
        org, client_for, smtp_settings, settings_env):
    settings_env(BASE_URL="http://testserver")
    c = client_for(org.admin)
    res = _upload(c, PARTICIPANTS)
    assert res.status_code == 200, res.text
    got = smtp_settings.wait_for(lambda r: True, count=2, timeout=10)
    assert sorted(r.rcpt_tos[0] for r in got) == ["joko@kampus.example.ac.id",
                                                   "rina@lsm.example.org"]
    assert all("FKP Dinas Sosial 2026" in r.message["Subject"] for r in got)
    assert _subscribers() == []  # an invitation subscribes nobody
    # The same file again invites nobody twice.
    assert _upload(c, PARTICIPANTS).status_code == 200
    with session() as s:
        assert len(messages(s, Outbox.kind == "subscribe")) == 2


def test_a_dry_run_of_participants_on_the_web_sends_nothing(org, client_for, smtp_settings,
                                                              settings_env):
    settings_env(BASE_URL="http://testserver")
    res = _upload(client_for(org.admin), PARTICIPANTS, dry_run="1")
    assert res.status_code == 200, res.text
    with session() as s:
        assert messages(s, Outbox.kind == "subscribe") == []
    assert smtp_settings.received == []


def test_a_wrong_participant_row_on_the_web_is_shown_and_nothing_is_sent(
        org, client_for, smtp_settings, settings_env):
    settings_env(BASE_URL="http://testserver")
    body = PARTICIPANTS + "FKP Dinas Sosial 2026,2026-01-12,Bu Ani,bukan-email,Warga\n"
    res = _upload(client_for(org.admin), body)
    assert res.status_code == 422
    assert "peserta.csv:4: email:" in html.unescape(res.text)
    with session() as s:
        assert messages(s, Outbox.kind == "subscribe") == []
    assert smtp_settings.received == []
