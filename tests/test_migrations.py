"""A database made by an earlier Tindak comes up to date on the next command, its queued
messages intact and still deliverable."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from models import messages, session
from models.db import _alembic_config, dispose_engines, get_engine
from tindak import outbox
from tindak.settings import get_settings


def database_at(revision: str, *rows: str) -> None:
    """The test database as an earlier Tindak left it: schema `revision`, these rows (SQL
    statements); its engines closed, so the next command opens it afresh."""
    engine = sa.create_engine(get_settings().db_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
        for sql in rows:
            conn.execute(sa.text(sql))
    engine.dispose()
    dispose_engines()


def test_queued_messages_survive_the_move_of_bodies_to_their_own_table(home):
    database_at(
        "0001",
        "INSERT INTO outbox (key, kind, on_date, recipient, cc, subject, body_text, "
        "body_html, message_id, attachments, status, attempts, created_at) VALUES "
        "('k1', 'reminder', '2026-03-09', 'budi@example.go.id', '', 'Pengingat', "
        "'Yth. Budi,\nAda 1 rekomendasi.', '<p>Yth. <b>Budi</b></p>', '<1@tindak.test>', "
        "'[]', 'pending', 0, '2026-03-09 00:30:00')")

    get_engine()  # the first command on the old database upgrades it
    with session() as s:
        [row] = messages(s)
        columns = {c["name"] for c in sa.inspect(s.connection()).get_columns("outbox")}
    assert (row.key, row.status, row.body_text, row.body_html) == (
        "k1", "pending", "Yth. Budi,\nAda 1 rekomendasi.", "<p>Yth. <b>Budi</b></p>")
    assert not {"body_text", "body_html", "attachments"} & columns
    msg = outbox.build_message(row)
    assert msg["Message-ID"] == "<1@tindak.test>"
    assert "Ada 1 rekomendasi." in msg.get_body(("plain",)).get_content()



def test_a_database_of_0002_gains_per_recipient_state_and_its_queue_still_delivers(
        home, smtp_settings):
    from tindak import outbox

    database_at(
        "0002",
        "INSERT INTO outbox (id, key, kind, on_date, recipient, cc, subject, message_id, "
        "status, attempts, created_at) VALUES (1, 'k1', 'escalation', '2026-03-09', "
        "'full@example.go.id', 'atasan@example.go.id', 'Eskalasi', '<1@tindak.test>', "
        "'pending', 0, '2026-03-09 00:30:00')",
        "INSERT INTO outbox_body (outbox_id, body_text, body_html, attachments) VALUES "
        "(1, 'Yth. Atasan', '<p>Yth. Atasan</p>', '[]')")

    get_engine()  # the first command on the old database upgrades it
    with session() as s:
        assert "outbox_recipient" in sa.inspect(s.connection()).get_table_names()
    smtp_settings.temp_refuse.add("full@example.go.id")
    assert outbox.deliver().partly_sent == 1
    smtp_settings.temp_refuse.clear()
    assert outbox.deliver().sent == 1
    assert [r.rcpt_tos for r in smtp_settings.received] == [
        ("atasan@example.go.id",), ("full@example.go.id",)]


def test_the_migrations_make_the_schema_the_models_declare(home):
    """A column or index added to a model without its migration (or the other way round)
    would exist in tests and be missing in every upgraded office database."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    get_engine()
    with session() as s:
        ctx = MigrationContext.configure(s.connection(), opts={"compare_type": False})
        drift = [d for d in compare_metadata(ctx, SQLModel.metadata)
                 if not (isinstance(d, tuple) and d[0] == "remove_table"
                         and d[1].name == "alembic_version")]
    assert drift == []


def test_a_database_of_0003_keeps_its_deadlines_and_gains_extensions(home):
    database_at(
        "0003",
        "INSERT INTO unit (id, code, name, timezone) VALUES (1, 'U', 'Unit', 'Asia/Jakarta')",
        "INSERT INTO person (id, email, name, roles, unit_id) VALUES "
        "(1, 'a@example.go.id', 'A', 'owner', 1)",
        "INSERT INTO forum (id, title, held_on, unit_id) VALUES (1, 'FKP', '2026-01-12', 1)",
        "INSERT INTO recommendation (id, ref, text, category, priority, deadline, status, "
        "progress, forum_id, unit_id, owner_id, created_at, updated_at, last_progress_at) "
        "VALUES (1, 'R-1', 'Teks', 'lainnya', 'normal', '2026-06-30', 'open', 0, 1, 1, 1, "
        "'2026-01-12 00:00:00', '2026-01-12 00:00:00', '2026-01-12 00:00:00')")

    from tindak import recs

    get_engine()
    [row] = list(recs.list_recs())
    assert (row["deadline"], row["original_deadline"], row["extension"]) == (
        "2026-06-30", "2026-06-30", None)


def test_the_newest_revision_read_from_file_names_is_alembics_head():
    """The schema step skips alembic when the database is at the newest revision, read from
    the migration files' names: that reading must be alembic's own."""
    from alembic.script import ScriptDirectory

    from models.db import newest_revision

    script = ScriptDirectory.from_config(_alembic_config(None))
    assert newest_revision() == script.get_current_head()
    chain = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert chain == sorted(chain), "revisions are numbered in the order they apply"


def test_a_database_newer_than_this_tindak_is_refused_and_left_as_it_was(home):
    import pytest

    from tindak.database import upgrade
    from tindak.errors import SchemaError

    engine = sa.create_engine(get_settings().db_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(SchemaError, match="0099, newer than this Tindak"):
        upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0099"
    engine.dispose()
