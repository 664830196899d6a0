"""The second pass's bulk SQL: units and people of the plan, then forums and the spooled
recommendations compared with the stored rows BATCH_SIZE at a time and written with Core
statements (executemany on SQLite, COPY on PostgreSQL), audit records included, inside the
caller's one transaction."""

from __future__ import annotations

import json
import operator
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from models import AuditRecord, Forum, Person, Recommendation, Status, Unit, table_of
from tindak.calendar import WorkCalendar
from tindak.importer.plan import Counts, Plan, diff, plain
from tindak.importer.spool import Spool
from tindak.importer.stored import CHUNK, Stored

BATCH_SIZE = 10_000  # recommendations compared and written per batch (bounds the memory)


def _ids(conn: sa.Connection, table: sa.Table, key: str) -> dict[Any, int]:
    return {r[1]: r[0] for r in conn.execute(sa.select(table.c.id, table.c[key]))}


def _memo(proc: Any, adapt: bool) -> Any:
    """A converter of each distinct value, run once per value (dates and times repeat): the
    column's bind processor, then (`adapt`, SQLite) the driver's adapter, e.g. a datetime's
    isoformat, which sqlite3 would otherwise run on every row."""
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        hit = seen.get(value, seen)
        if hit is not seen:
            return hit
        out = proc(value) if proc is not None else value
        if adapt and (adapter := sqlite3.adapters.get((type(out), sqlite3.PrepareProtocol))):
            out = adapter(out)
        if len(seen) < 100_000:
            seen[value] = out
        return out

    return convert


def _python_type(kind: Any) -> Any:
    try:
        return kind.python_type
    except NotImplementedError:
        return None


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows: executemany on SQLite, COPY on PostgreSQL (whose executemany sends
    one statement per row)."""
    if not rows:
        return
    cols = list(rows[0])
    sqlite = conn.dialect.name == "sqlite"
    convert = []
    for i, c in enumerate(cols):
        kind = table.c[c].type
        proc = kind.bind_processor(conn.dialect)
        if proc is not None or (sqlite and _python_type(kind) in (date, datetime)):
            convert.append((i, _memo(proc, sqlite)))
    get = operator.itemgetter(*cols)
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in cols)

    def values(row: dict[str, Any]) -> Sequence[Any]:
        out = get(row)
        if len(cols) == 1:
            out = (out,)
        if not convert:
            return out
        out = list(out)
        for i, proc in convert:
            out[i] = proc(out[i])
        return tuple(out)

    if conn.dialect.name == "postgresql":
        sql = f"COPY {quote(table.name)} ({names}) FROM STDIN"
        raw = conn.connection.driver_connection  # psycopg's, for COPY
        assert raw is not None
        with raw.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                copy.write_row(values(row))
    elif sqlite:  # the DBAPI's executemany, without per-row compiling
        sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' * len(cols))})"
        for i in range(0, len(rows), 20_000):
            conn.exec_driver_sql(sql, [values(row) for row in rows[i:i + 20_000]])
    else:
        conn.execute(table.insert(), rows)


def _bulk_update(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """UPDATE … WHERE id = :b_id for many rows at once (the same columns in every row)."""
    if not rows:
        return
    cols = [k for k in rows[0] if k != "id"]
    stmt = (sa.update(table).where(table.c.id == sa.bindparam("b_id"))
            .values({c: sa.bindparam(f"b_{c}") for c in cols}))
    conn.execute(stmt, [{f"b_{k}": v for k, v in r.items()} | {"b_id": r["id"]} for r in rows])


def write_small(conn: sa.Connection, plan: Plan, now: datetime,
                 actor: str) -> tuple[dict[Any, int], dict[Any, int]]:
    """Write the units and people of the plan with their audit records; the ids of every unit
    and person by natural key (lookup maps), for the forums and recommendations."""
    ut = table_of(Unit)
    pt = table_of(Person)

    _insert(conn, ut, [{"code": c.key, "name": c.values["name"],
                        "timezone": c.values["timezone"], "parent_id": None}
                       for c in plan.units if c.created])
    unit_id = _ids(conn, ut, "code")
    # Parents after every unit exists: a file may name a parent further down.
    _bulk_update(conn, ut, [{"id": unit_id[c.key], "name": c.values["name"],
                             "timezone": c.values["timezone"],
                             "parent_id": unit_id.get(c.values["parent"])}
                            for c in plan.units if not c.created or c.values["parent"]])

    _insert(conn, pt, [{"email": c.key, "name": c.values["name"], "roles": c.values["roles"],
                        "unit_id": unit_id[c.values["unit"]], "supervisor_id": None}
                       for c in plan.people if c.created])
    person_id = _ids(conn, pt, "email")
    _bulk_update(conn, pt, [{"id": person_id[c.key], "name": c.values["name"],
                             "roles": c.values["roles"], "unit_id": unit_id[c.values["unit"]],
                             "supervisor_id": person_id.get(c.values["supervisor"])}
                            for c in plan.people if not c.created or c.values["supervisor"]])

    audit = table_of(AuditRecord)
    batch: list[dict[str, Any]] = []
    for entity, changes in (("unit", plan.units), ("person", plan.people)):
        for c in changes:
            batch.append(_audit_row(now, actor, c.created, entity, c.key, c.changes))
            if len(batch) == BATCH_SIZE:
                _insert(conn, audit, batch)
                batch = []
    _insert(conn, audit, batch)
    return unit_id, person_id


def write_forums(conn: sa.Connection, forums: dict[tuple[str, date], list[Any]], db: Stored,
                 counts: Counts, unit_id: dict[Any, int] | None, now: datetime,
                 actor: str) -> dict[tuple[str, date], int]:
    """The forums of the recommendations compared with the stored ones and written (unless
    `unit_id` is None: a dry run) BATCH_SIZE at a time, audit included; the ids of every
    forum by title and date (a lookup map), for the recommendations."""
    ft = table_of(Forum)
    audit_table = table_of(AuditRecord)
    created: list[dict[str, Any]] = []
    updated: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []

    def flush() -> None:
        _insert(conn, ft, created)
        _bulk_update(conn, ft, updated)
        _insert(conn, audit_table, audit)
        del created[:], updated[:], audit[:]

    for (title, held), (unit, place, minutes, *_) in forums.items():
        old = db.forums.get((title, held))
        if old is None:
            counts.created += 1
            values = {"title": title, "held_on": held, "unit": unit, "place": place,
                      "minutes_ref": minutes}
            changes: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
            if unit_id is not None:
                created.append({"title": title, "held_on": held, "unit_id": unit_id[unit],
                                "place": place, "minutes_ref": minutes})
        else:
            # Metadata is only ever filled in or corrected by an import, never erased.
            after = {k: v for k, v in (("place", place), ("minutes_ref", minutes))
                     if v is not None}
            changes = diff({"place": old[2], "minutes_ref": old[3]}, after)
            if not changes:
                counts.unchanged += 1
                continue
            counts.updated += 1
            if unit_id is not None:
                updated.append({"id": old[0], "place": after.get("place", old[2]),
                                "minutes_ref": after.get("minutes_ref", old[3])})
        if unit_id is not None:
            audit.append(_audit_row(now, actor, old is None, "forum",
                                    f"{title} ({held.isoformat()})", changes))
            if len(audit) == BATCH_SIZE:
                flush()
    if unit_id is None:
        return {}
    flush()
    fc = ft.c
    return {(r[1], r[2]): r[0] for r in conn.execute(sa.select(fc.id, fc.title, fc.held_on))}


# One encoder for every audit record (json.dumps with options makes one per call); a date
# is written as its isoformat, like plain does.
_AUDIT_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=plain)


def _audit_row(now: datetime, actor: str, created: bool, entity: str, key: str,
               changes: dict[str, Any]) -> dict[str, Any]:
    """One audit record of a created or updated row."""
    return {"at": now, "actor": actor, "action": "create" if created else "update",
            "entity": entity, "entity_key": key[:254], "changes": _AUDIT_JSON.encode(changes)}


REC_COLUMNS = ("id", "forum_id", "unit_id", "owner_id", "text", "category", "priority",
               "deadline", "deadline_rule", "ref", "original_deadline")


def _stored_recs(conn: sa.Connection, refs: list[str]) -> dict[str, tuple[Any, ...]]:
    """The stored recommendations of these refs (a batch), by ref."""
    rc = table_of(Recommendation).c
    cols = [rc[c] for c in REC_COLUMNS]
    out: dict[str, tuple[Any, ...]] = {}
    if conn.dialect.name == "postgresql":  # one array parameter, one statement
        from sqlalchemy.dialects.postgresql import ARRAY

        wanted = sa.bindparam("refs", refs, type_=ARRAY(rc.ref.type))
        for r in conn.execute(sa.select(*cols).where(rc.ref == sa.any_(wanted))):
            out[r[9]] = (*r[:9], r[10])
        return out
    for i in range(0, len(refs), CHUNK):
        for r in conn.execute(sa.select(*cols).where(rc.ref.in_(refs[i:i + CHUNK]))):
            out[r[9]] = (*r[:9], r[10])
    return out


def write_recs(conn: sa.Connection, spool: Spool, db: Stored, cal: WorkCalendar,
               counts: Counts, ids: tuple[dict[Any, int], ...] | None, now: datetime,
               actor: str) -> None:
    """The second pass: the spooled recommendations compared with the stored ones and
    written (unless `ids` is None: a dry run), BATCH_SIZE at a time, audit included."""
    rt = table_of(Recommendation)
    audit_table = table_of(AuditRecord)
    unit_id, person_id, forum_id = ids or ({}, {}, {})
    ahead: dict[date, list[date]] = {}  # forum date → the working days after it, as needed

    def plus_hk(start: date, n: int) -> date:
        days = ahead.setdefault(start, [])
        day = days[-1] if days else start
        while len(days) < n:
            day += timedelta(days=1)
            if cal.is_working_day(day):
                days.append(day)
        return days[n - 1] if n else start

    # An import into an empty table (the first, usually the largest) has nothing to compare.
    empty = conn.execute(sa.select(rt.c.id).limit(1)).first() is None
    for batch in spool.batches(BATCH_SIZE):
        stored = {} if empty else _stored_recs(conn, [row[0] for row in batch])
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        for ref, forum, held, unit, owner, text, category, priority, due, hk, rule in batch:
            held = date.fromordinal(held)
            new = {"forum": forum, "forum_date": held, "unit": unit, "owner": owner,
                   "text": text, "category": category, "priority": priority,
                   "deadline": plus_hk(held, hk) if hk is not None else date.fromordinal(due),
                   "deadline_rule": rule}
            old = stored.get(ref)
            if old is None:
                new["category"] = category or "lainnya"
                new["priority"] = priority or "normal"
                counts.created += 1
                changes = {k: v for k, v in new.items() if v is not None}
            else:
                title, day = db.forum_key[old[1]]
                new["category"] = category or old[5]
                new["priority"] = priority or old[6]
                # The file says the Berita Acara's deadline: once an approved extension
                # moved the one in force, the file is compared with (and may correct) the
                # original, and the deadline in force stays the approved one (SPEC §7).
                before = {"forum": title, "forum_date": day, "unit": db.unit_code.get(old[2]),
                          "owner": db.person_email.get(old[3]), "text": old[4],
                          "category": old[5], "priority": old[6],
                          "deadline": old[9] or old[7], "deadline_rule": old[8]}
                changes = diff(before, new)
                if not changes:
                    counts.unchanged += 1
                    continue
                counts.updated += 1
            if ids is None:
                continue
            row = {"forum_id": forum_id[(forum, held)], "unit_id": unit_id[new["unit"]],
                   "owner_id": person_id[owner], "text": text, "category": new["category"],
                   "priority": new["priority"], "deadline": new["deadline"],
                   "deadline_rule": rule}
            if old is None:
                created.append({"ref": ref, **row, "status": Status.open.value, "progress": 0,
                                "created_at": now, "updated_at": now, "last_progress_at": now})
            else:
                if old[9] is not None:  # extended: the file's date is the original
                    row["deadline"] = old[7]
                updated.append({"id": old[0], **row, "original_deadline": (
                    new["deadline"] if old[9] is not None else None), "updated_at": now})
            audit.append(_audit_row(now, actor, old is None, "recommendation", ref, changes))
        _insert(conn, rt, created)
        _bulk_update(conn, rt, updated)
        _insert(conn, audit_table, audit)
