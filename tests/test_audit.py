"""The audit trail is append-only through every interface: the database refuses to change
it, no command or page edits it, every change to an item adds a record of who made it, and
a restore brings it back identical."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer

from models import AuditRecord, get_engine, session, write_session
from tests import test_backup
from tests.plugins.env import PG_URL
from tindak import recs
from tindak.cli import app, main
from tindak.links import owner_token

ROOT = Path(__file__).resolve().parents[1]
REFUSED = "audit records cannot be changed"
fresh_home = test_backup.fresh_home  # a second, empty TINDAK_HOME and database


def audit_rows() -> list[dict[str, Any]]:
    with session() as s:
        rows = s.execute(sa.select(AuditRecord).order_by(AuditRecord.id)).scalars().all()
        return [{"id": r.id, "at": r.at, "actor": r.actor, "action": r.action,
                 "entity": r.entity, "key": r.entity_key, "changes": json.loads(r.changes)}
                for r in rows]


def added(before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records added since `before`, after checking that none of those changed."""
    after = audit_rows()
    assert after[: len(before)] == before, "an existing audit record was changed or removed"
    return [{k: v for k, v in r.items() if k not in ("id", "at")} for r in after[len(before):]]


def team(make: Any) -> tuple[Any, Any, Any]:
    unit = make.unit(code="DINSOS", name="Dinas Sosial")
    planner = make.person(email="perencana@dinsos.go.id", unit=unit, roles="planner")
    owner = make.person(email="pic@dinsos.go.id", unit=unit, supervisor=planner)
    make.rec(ref="DINSOS-1", owner=owner, unit=unit)
    return unit, planner, owner


# ---------------------------------------------------------------- (a) the database


@pytest.mark.parametrize("sql", [
    "UPDATE audit_record SET actor = 'someone-else@example.go.id'",
    "UPDATE audit_record SET changes = '{}' WHERE id = (SELECT min(id) FROM audit_record)",
    "DELETE FROM audit_record",
    "DELETE FROM audit_record WHERE id = (SELECT max(id) FROM audit_record)",
])
def test_the_database_refuses_to_change_or_delete_audit_records(make, sql):
    _, _, owner = team(make)
    recs.update_rec("DINSOS-1", owner.email, progress=30)
    before = audit_rows()
    assert before
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED), get_engine().begin() as conn:
        conn.exec_driver_sql(sql)
    assert audit_rows() == before


def test_the_orm_cannot_change_or_delete_them_either(make):
    _, _, owner = team(make)
    recs.update_rec("DINSOS-1", owner.email, progress=30)
    before = audit_rows()
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED), write_session() as s:
        s.execute(sa.update(AuditRecord).values(actor="x@example.go.id"))
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED), write_session() as s:
        s.delete(s.get(AuditRecord, before[0]["id"]))
    assert audit_rows() == before
    with write_session() as s:  # adding is what the trail is for
        s.add(AuditRecord(actor="system", action="note", entity="test", entity_key="k"))
    assert len(audit_rows()) == len(before) + 1


@pytest.mark.skipif(not PG_URL, reason="TRUNCATE is PostgreSQL's")
def test_postgresql_refuses_to_truncate_audit_records(make):
    _, _, owner = team(make)
    recs.update_rec("DINSOS-1", owner.email, progress=30)
    before = audit_rows()
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED), get_engine().begin() as conn:
        conn.exec_driver_sql("TRUNCATE audit_record")
    assert audit_rows() == before


# ---------------------------------------------------------------- (b) the command line


def walk(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, cmd)]
    for name in sorted(getattr(cmd, "commands", None) or {}):
        found += walk(cmd.commands[name], (*path, name))
    return found


COMMANDS = walk(typer.main.get_command(app))
READ_ONLY = {"list", "show", "export"}


def test_no_command_edits_or_deletes_audit_records():
    assert len(COMMANDS) > 10  # the walk found the app's commands
    for path, cmd in COMMANDS:
        if any("audit" in part for part in path):
            assert path[-1] in READ_ONLY, f"`tindak {' '.join(path)}` may change the trail"
        names = [p.name or "" for p in cmd.params] + [o for p in cmd.params for o in p.opts]
        assert not [n for n in names if "audit" in n.lower()], \
            f"`tindak {' '.join(path)}` takes an audit record"


WRITES_TO_AUDIT = re.compile(
    r"(?:update|delete)\(\s*AuditRecord|AuditRecord\.__table__\.(?:update|delete)"
    r"|(?:UPDATE|DELETE\s+FROM|TRUNCATE)\s+\"?audit_record", re.IGNORECASE)


def test_no_code_updates_or_deletes_audit_records():
    sources = [p for d in ("tindak", "flows", "models") for p in (ROOT / d).rglob("*.py")
               if "versions" not in p.parts]
    assert len(sources) > 20
    offenders = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sources
                 for m in WRITES_TO_AUDIT.finditer(p.read_text(encoding="utf-8"))]
    assert not offenders, offenders


def test_recs_update_adds_one_record_of_who_changed_what(make, capsys):
    _, _, owner = team(make)
    before = audit_rows()
    assert main(["recs", "update", "DINSOS-1", "--progress", "40", "--note", "Loket dibuka",
                 "--evidence", "https://dinsos.example.go.id/foto", "--by", owner.email]) == 0
    assert added(before) == [{
        "actor": owner.email, "action": "update", "entity": "recommendation",
        "key": "DINSOS-1", "changes": {"progress": [0, 40], "status": ["open", "in_progress"],
                                       "note": "Loket dibuka",
                                       "evidence": "https://dinsos.example.go.id/foto"}}]


def test_a_refused_change_adds_nothing(make, capsys):
    unit, _, _ = team(make)
    stranger = make.person(email="lain@dinsos.go.id", unit=unit)
    before = audit_rows()
    assert main(["recs", "update", "DINSOS-1", "--progress", "40", "--by", stranger.email]) == 1
    assert main(["recs", "verify", "DINSOS-1", "--by", stranger.email]) == 1
    assert added(before) == []


def test_verify_and_reject_add_one_record_each_by_the_planner(make, capsys):
    _, planner, owner = team(make)
    recs.update_rec("DINSOS-1", owner.email, status="awaiting_verification", note="Selesai")
    before = audit_rows()
    assert main(["recs", "verify", "DINSOS-1", "--reject", "--note", "Foto kabur",
                 "--by", planner.email]) == 0
    assert added(before) == [{
        "actor": planner.email, "action": "reject", "entity": "recommendation",
        "key": "DINSOS-1", "changes": {"status": ["awaiting_verification", "in_progress"],
                                       "progress": [100, 90], "note": "Foto kabur"}}]
    recs.update_rec("DINSOS-1", owner.email, status="awaiting_verification", note="Foto baru")
    before = audit_rows()
    assert main(["recs", "verify", "DINSOS-1", "--by", planner.email]) == 0
    assert added(before) == [{
        "actor": planner.email, "action": "verify", "entity": "recommendation",
        "key": "DINSOS-1", "changes": {"status": ["awaiting_verification", "completed"]}}]


UNITS = "code,name,parent,timezone\nDINKES,Dinas Kesehatan,,Asia/Jakarta\n"
PEOPLE = ("email,name,unit,role,supervisor\n"
          "perencana@dinkes.go.id,Perencana Dinkes,DINKES,planner,\n"
          "pic@dinkes.go.id,PIC Dinkes,DINKES,owner,perencana@dinkes.go.id\n")
RECS = ("ref,forum,forum_date,unit,text,category,owner,deadline,priority\n"
        "DINKES-1,FKP Dinkes 2026,2026-02-02,DINKES,{text},sarana,pic@dinkes.go.id,"
        "2026-06-30,high\n"
        "DINKES-2,FKP Dinkes 2026,2026-02-02,DINKES,Survei kepuasan,evaluasi_kinerja,"
        "pic@dinkes.go.id,+10 hk,normal\n")


def test_import_adds_a_record_per_created_or_updated_row_and_none_when_unchanged(
        home, tmp_path, capsys):
    files = {"units.csv": UNITS, "people.csv": PEOPLE,
             "recs.csv": RECS.format(text="Perbaiki papan informasi")}
    for name, body in files.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    paths = [str(tmp_path / n) for n in files]
    before = audit_rows()
    assert main(["import", *paths]) == 0
    made = added(before)
    actor = "import:units.csv,people.csv,recs.csv"
    assert {(r["actor"], r["action"]) for r in made} == {(actor, "create")}
    assert sorted((r["entity"], r["key"]) for r in made) == sorted([
        ("unit", "DINKES"), ("person", "perencana@dinkes.go.id"),
        ("person", "pic@dinkes.go.id"), ("forum", "FKP Dinkes 2026 (2026-02-02)"),
        ("recommendation", "DINKES-1"), ("recommendation", "DINKES-2")])
    created = next(r for r in made if r["key"] == "DINKES-1")
    assert created["changes"]["text"] == "Perbaiki papan informasi"
    assert created["changes"]["owner"] == "pic@dinkes.go.id"

    before = audit_rows()
    assert main(["import", *paths]) == 0  # the same files again: nothing changes
    assert added(before) == []

    (tmp_path / "recs.csv").write_text(RECS.format(text="Perbaiki papan informasi layanan"),
                                       encoding="utf-8")
    assert main(["import", str(tmp_path / "recs.csv"), "--by", "perencana@dinkes.go.id"]) == 0
    assert added(before) == [{
        "actor": "perencana@dinkes.go.id", "action": "update", "entity": "recommendation",
        "key": "DINKES-1",
        "changes": {"text": ["Perbaiki papan informasi", "Perbaiki papan informasi layanan"]}}]


def test_holidays_add_and_cancel_add_a_record_each(make, capsys):
    _, planner, _ = team(make)
    before = audit_rows()
    assert main(["holidays", "add", "2026-04-15", "Cuti bersama HUT Kabupaten",
                 "--by", planner.email]) == 0
    assert main(["holidays", "cancel", "2026-04-15", "--by", planner.email]) == 0
    assert added(before) == [
        {"actor": planner.email, "action": "add", "entity": "holiday", "key": "2026-04-15",
         "changes": {"name": "Cuti bersama HUT Kabupaten"}},
        {"actor": planner.email, "action": "remove", "entity": "holiday", "key": "2026-04-15",
         "changes": {"name": "Cuti bersama HUT Kabupaten", "kind": ["add", None]}},
    ]


# ---------------------------------------------------------------- (c) the web app


def web_routes(routes: Any) -> Any:
    """(path, methods) of every route, through included routers (old and new FastAPI)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from web_routes(inner.routes)
        else:
            yield getattr(r, "path", ""), getattr(r, "methods", None) or set()


def test_the_web_app_has_no_route_that_edits_or_deletes_audit_records(home):
    from tindak.web import create_app

    routes = list(web_routes(create_app().routes))
    assert ("/kelola/rekomendasi/{rec_id}/verifikasi", {"POST"}) in routes  # the walk works
    for path, methods in routes:
        assert not re.search(r"audit|jejak", path, re.IGNORECASE), path
        assert not methods & {"PUT", "PATCH", "DELETE"}, (path, methods)


def test_every_web_change_only_adds_records_naming_who_made_it(org, client_for, client):
    planner, owner = org.planner_a, org.owner_a
    before = audit_rows()
    c = client_for(planner)
    res = c.post_form("/kelola/forum/baru", {
        "title": "FKP Bansos 2026", "held_on": "12/02/2026", "unit": "DINSOS"},
        csrf_from="/kelola/forum/baru")
    assert res.status_code == 303
    forum_url = res.headers["location"]
    res = c.post_form(f"{forum_url}/rekomendasi", {
        "ref": "BANSOS-1", "text": "Sediakan jalur lansia", "owner": owner.email,
        "deadline": "+10 hk", "category": "sarana", "priority": "high", "unit": "DINSOS"},
        csrf_from=forum_url)
    assert res.status_code == 303
    url = f"/kelola/rekomendasi/{org.rec_a.id}"
    res = c.post_form(url, {"text": org.rec_a.text, "owner": owner.email,
                            "deadline": "2026-05-29", "unit": "DINSOS", "category": "prosedur",
                            "priority": "low"}, csrf_from=url)
    assert res.status_code == 303

    token = owner_token(owner.id, owner.email)  # the owner reports through their mailed link
    res = client.post_form(f"/o/{token}/r/{org.rec_a.id}", {
        "status": "awaiting_verification", "note": "Selesai"}, csrf_from=f"/o/{token}")
    assert res.status_code == 303, res.text
    res = c.post_form(f"{url}/verifikasi", {"decision": "accept"},
                      csrf_from="/kelola/verifikasi")
    assert res.status_code == 303

    new = added(before)
    assert [(r["actor"], r["action"], r["entity"]) for r in new] == [
        (planner.email, "create", "forum"),
        (planner.email, "create", "recommendation"),
        (planner.email, "update", "recommendation"),
        (owner.email, "update", "recommendation"),
        (planner.email, "verify", "recommendation"),
    ]
    assert new[2]["changes"]["deadline"] == ["2030-06-28", "2026-05-29"]
    assert new[3]["changes"]["status"] == ["open", "awaiting_verification"]


# ---------------------------------------------------------------- (d) backup and restore


def test_a_restore_brings_back_the_same_trail_and_it_stays_append_only(
        make, tmp_path, fresh_home, capsys):
    test_backup.populate(make, tmp_path)
    trail = audit_rows()
    assert {r["action"] for r in trail} >= {"update", "verify", "add"}
    path = tmp_path / "b.tar.gz"
    assert main(["backup", str(path)]) == 0
    fresh_home("restored")
    assert main(["restore", str(path)]) == 0
    assert audit_rows() == trail
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED), get_engine().begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_record")
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED), get_engine().begin() as conn:
        conn.exec_driver_sql("UPDATE audit_record SET actor = 'x'")
    if PG_URL:
        with pytest.raises(sa.exc.DBAPIError, match=REFUSED), get_engine().begin() as conn:
            conn.exec_driver_sql("TRUNCATE audit_record")
    assert audit_rows() == trail
