"""`GET /o/{token}/kalender.ics` (SPEC §8): an owner's deadlines as a calendar feed, read
back with the icalendar parser as a calendar application would read it."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from icalendar import Calendar

from tindak.importer import import_files
from tindak.links import owner_token
from tindak.recs import update_rec

UNITS = "code,name,parent,timezone\nDINSOS,Dinas Sosial,,WITA\n"
PEOPLE = ("email,name,unit,role,supervisor\nsiti@dinsos.go.id,Siti Aminah,DINSOS,owner,\n"
          "budi@dinsos.go.id,Budi,DINSOS,owner,\n")
HOSTILE = 'Perjelas SOP; biaya, "gratis"\nBEGIN:VEVENT\\n <script>x</script>'
RECS = ("ref,forum,forum_date,text,owner,deadline\n"
        f'FKP-01,FKP 2026,2026-01-12,"{HOSTILE.replace(chr(34), chr(34) * 2)}",'
        "siti@dinsos.go.id,{d1}\n"
        "FKP-02,FKP 2026,2026-01-12,Loket prioritas,siti@dinsos.go.id,2026-09-30\n"
        "FKP-03,FKP 2026,2026-01-12,Papan informasi,budi@dinsos.go.id,2026-08-31\n"
        "FKP-04,FKP 2026,2026-01-12,Sudah selesai,siti@dinsos.go.id,2026-07-31\n")


def load(home: Path, d1: str = "2026-06-30") -> None:
    for name, text in (("units", UNITS), ("people", PEOPLE),
                       ("recommendations", RECS.format(d1=d1))):
        (home / f"{name}.csv").write_text(text)
    import_files([str(home / f) for f in ("units.csv", "people.csv", "recommendations.csv")])


def feed(client, person_id: int = 1, email: str = "siti@dinsos.go.id") -> dict:  # type: ignore[no-untyped-def]
    res = client.get(f"/o/{owner_token(person_id, email)}/kalender.ics")
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "text/calendar; charset=utf-8"
    assert res.headers["cache-control"] == "no-store"
    cal = Calendar.from_ical(res.content)
    return {str(ev["summary"]): ev for ev in cal.walk("VEVENT")}


def test_an_owner_gets_their_active_deadlines_as_all_day_events(home: Path, client) -> None:  # type: ignore[no-untyped-def]
    load(home)
    update_rec("FKP-04", by="siti@dinsos.go.id", progress=100)  # done: leaves the calendar
    events = feed(client)
    assert sorted(events) == ["Tenggat tindak lanjut: FKP-01", "Tenggat tindak lanjut: FKP-02"]
    ev = events["Tenggat tindak lanjut: FKP-01"]
    assert ev.decoded("dtstart") == date(2026, 6, 30)  # a date: an all-day event
    assert ev.decoded("dtend") == date(2026, 7, 1)
    assert ev["dtstart"].params["VALUE"] == "DATE"
    [alarm] = ev.walk("VALARM")
    assert alarm.decoded("trigger") == timedelta(days=-7)
    # The item's text arrives as text: no event injected, no markup run.
    assert str(ev["description"]).startswith(HOSTILE + "\n\nFKP 2026\nDinas Sosial (WITA)")
    assert "/o/" in str(ev["url"])


def test_a_moved_deadline_updates_the_same_event(home: Path, client) -> None:  # type: ignore[no-untyped-def]
    load(home)
    before = feed(client)["Tenggat tindak lanjut: FKP-01"]
    load(home, d1="2026-10-30")
    after = feed(client)["Tenggat tindak lanjut: FKP-01"]
    assert after["uid"] == before["uid"]
    assert (before["sequence"], after["sequence"]) == (0, 1)
    assert after.decoded("dtstart") == date(2026, 10, 30)
    assert after.decoded("dtstamp") >= before.decoded("dtstamp")
    load(home, d1="2026-10-30")  # the same file again: nothing moved
    assert feed(client)["Tenggat tindak lanjut: FKP-01"]["sequence"] == 1


def test_the_feed_is_linked_from_the_owners_page_and_needs_their_link(home: Path,  # type: ignore[no-untyped-def]
                                                                     client) -> None:
    load(home)
    token = owner_token(1, "siti@dinsos.go.id")
    page = client.get(f"/o/{token}")
    assert f'href="/o/{token}/kalender.ics"' in page.text
    assert "Tambahkan tenggat saya ke kalender (.ics)" in page.text
    assert client.get("/o/forged-token/kalender.ics").status_code == 403
    assert sorted(feed(client, 2, "budi@dinsos.go.id")) == ["Tenggat tindak lanjut: FKP-03"]
