"""The import streams (no step holds every row): a first pass checks every row, a second
writes them in batches, inside one transaction. None of it may show: the same counts and rows
whatever the batch size, all or nothing even when the mistake is in the last row or the write
fails half-way, a file unreadable part-way counts for nothing, and errors beyond those listed
are still counted."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from models import Person, Unit, get_engine, session, write_session
from tests.test_import import FORUM, PEOPLE, REC_HEAD, UNITS, D, base, counts, rec, write
from tindak import importer, recs
from tindak.cli import main
from tindak.errors import ImportFailed
from tindak.importer import bulk, entry, import_files, problems, spool

N = 60  # recommendations: several batches of BATCH
BATCH = 7
FORUM_2 = f"{FORUM} II"


def many(n: int = N, first: int = 0, text: str = "Rekomendasi nomor") -> list[tuple[str, ...]]:
    """n recommendations over two forums, some with `+10 hk` deadlines, some with empty cells
    (defaults: the owner's unit, lainnya, normal)."""
    rows = []
    for i in range(first, first + n):
        over = {"text": f"{text} {i}"}
        if i % 3 == 1:
            over.update(forum=FORUM_2, forum_date="2026-08-04")
        if i % 5 == 0:
            over.update(deadline="+10 hk")
        if i % 4 == 0:
            over.update(category="", priority="")
        if i % 7 == 0:
            over.update(unit="", owner=f"kadis@{D}")
        rows.append(rec(f"DS-{i:03d}", **over))
    return rows


def expected(i: int) -> tuple[str, str, str, str, str]:
    """unit, owner, deadline, category, priority of many()'s row i, as stored."""
    if i % 5 == 0:  # 10 working days after the forum; 17 August is Independence Day
        deadline = "2026-08-19" if i % 3 == 1 else "2026-07-22"
    else:
        deadline = "2026-09-30"
    unit, owner = ("DINSOS-73", f"kadis@{D}") if i % 7 == 0 else ("DINSOS-73-LJS", f"sitti@{D}")
    category, priority = ("lainnya", "normal") if i % 4 == 0 else ("prosedur", "high")
    return unit, owner, deadline, category, priority


def stored() -> dict[str, tuple[str, ...]]:
    return {r["ref"]: (r["unit"], r["owner"], r["deadline"], r["category"], r["priority"])
            for r in recs.list_recs()}


def snapshot() -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table."""
    with get_engine().connect() as conn:
        return {t.name: [tuple(r) for r in conn.execute(
            sa.select(t).order_by(*t.primary_key.columns))]
            for t in SQLModel.metadata.sorted_tables}


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "BATCH_SIZE", BATCH)
    monkeypatch.setattr(spool, "SPOOL_CHUNK", 3)


@pytest.mark.parametrize("batch", [BATCH, 10_000])
def test_a_multi_batch_import_gives_what_one_batch_gives(home, monkeypatch, batch):
    monkeypatch.setattr(bulk, "BATCH_SIZE", batch)
    monkeypatch.setattr(spool, "SPOOL_CHUNK", 3)
    paths = [*base(), write("recs.csv", [REC_HEAD, *many()])]
    created = ["units: 4 created, 0 updated, 0 unchanged",
               "people: 3 created, 0 updated, 0 unchanged",
               "forums: 2 created, 0 updated, 0 unchanged",
               f"recommendations: {N} created, 0 updated, 0 unchanged"]
    dry = import_files(paths, dry_run=True)
    assert dry.lines() == [*created, "dry run: every row is valid; nothing was written"]
    assert set(counts().values()) == {0}
    assert import_files(paths).lines() == created
    assert stored() == {f"DS-{i:03d}": expected(i) for i in range(N)}

    recs.update_rec("DS-059", by=f"sitti@{D}", progress=40, note="Draf SOP")
    assert import_files(paths).lines() == [
        "units: 0 created, 0 updated, 4 unchanged", "people: 0 created, 0 updated, 3 unchanged",
        "forums: 0 created, 0 updated, 2 unchanged",
        f"recommendations: 0 created, 0 updated, {N} unchanged"]

    # Changes in the first, a middle and the last batch, and new rows after them.
    rows = many()
    for i in (0, 8, 30, 59):
        cells = dict(zip(REC_HEAD, rows[i], strict=True), text=f"Diubah {i}")
        rows[i] = tuple(cells[c] for c in REC_HEAD)
    report = import_files([write("recs.csv", [REC_HEAD, *rows, *many(3, first=100)])])
    assert report.lines() == ["forums: 0 created, 0 updated, 2 unchanged",
                              f"recommendations: 3 created, 4 updated, {N - 4} unchanged"]
    assert len(stored()) == N + 3
    row = next(r for r in recs.list_recs() if r["ref"] == "DS-059")
    assert (row["text"], row["status"], row["progress"]) == ("Diubah 59", "in_progress", 40)
    with session() as s:
        audit = s.execute(sa.text("SELECT action, entity_key, changes FROM audit_record "
                                  "WHERE entity = 'recommendation' AND actor LIKE 'import:%' "
                                  "ORDER BY id")).all()
    assert [a[0] for a in audit].count("create") == N + 3
    updates = [(a[1], a[2]) for a in audit if a[0] == "update"]
    assert [u[0] for u in updates] == ["DS-000", "DS-008", "DS-030", "DS-059"]
    assert updates[2][1] == '{"text": ["Rekomendasi nomor 30", "Diubah 30"]}'


def test_a_mistake_in_the_last_row_of_a_long_file_writes_nothing(home, small_batches):
    import_files([*base(), write("recs.csv", [REC_HEAD, *many()])])
    before = snapshot()
    # Every row would change, new ones would be added: but the very last row repeats a ref.
    rows = [*many(text="Diubah"), *many(30, first=100), rec("DS-000")]
    with pytest.raises(ImportFailed) as exc:
        import_files([write("recs2.csv", [REC_HEAD, *rows])])
    assert exc.value.errors == [
        f"recs2.csv:{len(rows) + 1}: ref: ref 'DS-000' is given twice (also at row 2)"]
    assert snapshot() == before


@pytest.mark.parametrize("step", ["_insert", "_bulk_update"])
def test_a_write_that_fails_half_way_leaves_the_database_as_it_was(home, small_batches,
                                                                   monkeypatch, step):
    import_files([*base(), write("recs.csv", [REC_HEAD, *many()])])
    before = snapshot()
    real = getattr(bulk, step)
    calls = []

    def fail_on_the_third_batch(conn, table, rows):  # type: ignore[no-untyped-def]
        if table.name == "recommendation" and rows:
            calls.append(len(rows))
            if len(calls) == 3:
                raise OSError("disk full")
        return real(conn, table, rows)

    monkeypatch.setattr(bulk, step, fail_on_the_third_batch)
    # Updates in every batch, then new rows: two batches of each are written before the fault.
    rows = [*many(text="Diubah"), *many(3 * BATCH, first=100)]
    with pytest.raises(OSError, match="disk full"):
        import_files([write("recs2.csv", [REC_HEAD, *rows])])
    assert len(calls) == 3
    assert snapshot() == before


def test_a_first_import_that_fails_half_way_writes_no_unit_person_or_forum(home, small_batches,
                                                                           monkeypatch):
    real = bulk._insert

    def fail_late(conn, table, rows):  # type: ignore[no-untyped-def]
        if table.name == "audit_record" and any(r["entity"] == "recommendation" for r in rows):
            if any(r["entity_key"] == "DS-050" for r in rows):
                raise OSError("connection lost")
        return real(conn, table, rows)

    monkeypatch.setattr(bulk, "_insert", fail_late)
    with pytest.raises(OSError):
        import_files([*base(), write("recs.csv", [REC_HEAD, *many()])])
    assert set(counts().values()) == {0}


def test_errors_beyond_those_listed_are_counted_and_listed_in_file_order(home, monkeypatch,
                                                                         capsys, settings_env):
    settings_env(LANGUAGE="en")  # the English wording; Indonesian is tested in test_cli_words
    monkeypatch.setattr(problems, "MAX_ERRORS", 3)
    # The units file is read first (whatever the order given) but listed after recs.csv.
    write("units.csv", [*UNITS, *[(f"X-{i}", "", "", "") for i in range(8)]])
    write("people.csv", PEOPLE)
    write("recs.csv", [REC_HEAD, *[rec(f"DS-{i}", category="?") for i in range(8)]])
    assert main(["import", "recs.csv", "people.csv", "units.csv"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "recs.csv:2: category: unknown category '?' (one of: " + ", ".join(importer.CATEGORIES)
        + ")",
        *err[1:3],
        "… and 13 more error(s), not listed: correct these first",
        "error: import refused: 16 error(s), nothing was written",
    ]
    assert [line.split(": ")[0] for line in err[:3]] == ["recs.csv:2", "recs.csv:3", "recs.csv:4"]
    assert set(counts().values()) == {0}


def test_a_file_unreadable_part_way_counts_for_nothing(home):
    # people.csv is fine up to a quote never closed, far down: none of its people count, so
    # the recommendation's owner is unknown, as if the file had not been given.
    people = write("people.csv", PEOPLE)
    people.write_bytes(people.read_bytes() + b'x@y.example.go.id,"Never closed' + b"z" * 200_000)
    with pytest.raises(ImportFailed) as exc:
        import_files([write("units.csv", UNITS), people, write("recs.csv", [REC_HEAD, rec()])])
    errors = exc.value.errors
    assert [e.split(": ")[:2] for e in errors] == [["people.csv:5", "row"],
                                                   ["recs.csv:2", "owner"]]
    assert errors[0].startswith("people.csv:5: row: unreadable CSV")
    assert f"unknown person 'sitti@{D}'" in errors[1]
    assert set(counts().values()) == {0}


def test_people_changed_while_the_files_were_checked_are_checked_again(home, monkeypatch):
    import_files(base())
    real = entry.check_files
    calls = []

    def check_then_move_sitti(paths, db):  # type: ignore[no-untyped-def]
        checked = real(paths, db)
        calls.append(1)
        if len(calls) == 1:  # someone moves her to another office meanwhile
            with write_session() as s:
                bps = s.execute(sa.select(Unit.id).where(Unit.code == "BPS-3404")).scalar_one()
                s.execute(sa.update(Person).where(Person.email == f"sitti@{D}")
                          .values(unit_id=bps))
        return checked

    monkeypatch.setattr(entry, "check_files", check_then_move_sitti)
    with pytest.raises(ImportFailed) as exc:
        import_files([write("recs.csv", [REC_HEAD, rec()])])
    assert len(calls) == 2
    assert exc.value.errors == [f"recs.csv:2: owner: sitti@{D} belongs to unit 'BPS-3404', "
                                "which is neither 'DINSOS-73-LJS' nor above or below it"]
    assert counts()["recommendation"] == 0
