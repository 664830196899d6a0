"""The supervisor's journey: the real `tindak run daily` (through a Prefect server) sends
them one escalation listing every late item of their staff, with a link, the owners in Cc,
and a re-run of the day sends nothing again."""

from __future__ import annotations

import re
import time
from datetime import date

AS_OF = "2026-03-09"  # a Monday


def test_supervisor_is_told_of_every_late_item_of_their_staff_once(make, tindak, smtp_settings,
                                                                  settings_env):
    settings_env(BASE_URL="https://tindak.pemkot.example.go.id")
    unit = make.unit(code="DPMPTSP", name="Dinas Penanaman Modal dan PTSP")
    # Nobody above the supervisor: no supervisor of theirs and no leader in the unit tree.
    boss = make.person(email="kabid.perizinan@dpmptsp.example.go.id", unit=unit,
                       name="Kepala Bidang Perizinan")
    ani = make.person(email="ani@dpmptsp.example.go.id", unit=unit, supervisor=boss,
                      name="Ani Rahmawati")
    budi = make.person(email="budi@dpmptsp.example.go.id", unit=unit, supervisor=boss,
                       name="Budi Hartono")
    forum = make.forum(unit=unit, title="FKP Perizinan Berusaha 2026")
    late8 = make.rec(ref="PTSP-01", owner=ani, forum=forum, deadline=date(2026, 3, 1),
                     text="Tampilkan alur perizinan di ruang tunggu")
    late40 = make.rec(ref="PTSP-02", owner=budi, forum=forum, deadline=date(2026, 1, 28),
                      text="Sediakan layanan konsultasi daring")  # first seen 40 days late
    make.rec(ref="PTSP-03", owner=budi, forum=forum, deadline=date(2026, 6, 30))  # not late

    run = tindak("run", "daily", "--as-of", AS_OF, prefect=True)
    assert run.returncode == 0, run.stderr + run.stdout
    assert "nobody" not in run.stdout  # no advice: the supervisor exists

    [esc] = smtp_settings.wait_for(lambda r: boss.email in r.rcpt_tos)
    msg = esc.message
    assert msg["To"].endswith(boss.email + ">") or boss.email in msg["To"]
    assert ani.email in msg["Cc"] and budi.email in msg["Cc"]
    assert set(esc.rcpt_tos) == {boss.email, ani.email, budi.email}
    text = msg.get_body(("plain",)).get_content()
    assert "PTSP-01" in text and "PTSP-02" in text and "PTSP-03" not in text
    assert "terlambat 8 hari" in text and "terlambat 40 hari" in text
    base = "https://tindak.pemkot.example.go.id"
    assert f"{base}/forum/{forum.id}#r{late8.id}" in text
    assert f"{base}/forum/{forum.id}#r{late40.id}" in text
    assert not re.search(r"/o/[A-Za-z0-9_.-]+", text)  # never an owner's signed link

    before = len(smtp_settings.received)
    again = tindak("run", "daily", "--as-of", AS_OF, prefect=True)
    assert again.returncode == 0, again.stderr + again.stdout
    time.sleep(1)
    assert len(smtp_settings.received) == before  # nothing sent twice
    assert sum(boss.email in r.rcpt_tos and r.message["To"].count(boss.email)
               for r in smtp_settings.received) == 1
