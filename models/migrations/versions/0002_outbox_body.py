"""outbox bodies in their own table; the index of unsent notices only holds those

Delivery commits a small status change before each message it hands to SMTP; with the
rendered bodies (~15 kB) in the same row, each of those commits rewrote the whole row. The
bodies move to `outbox_body` (one row per outbox row, same id); existing rows are copied.

The index that finds notices not yet in a message becomes partial (outbox_id IS NULL): it
holds the few days' worth waiting to be composed, not every notice ever planned. The
outbox's (status, id) index gives way to partial indexes by id for the queued, in-flight
and needing-attention states: the 'sending' mark then changes no index.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_body",
        sa.Column("outbox_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("body_text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("body_html", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("attachments", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("outbox_id"),
    )
    op.execute("INSERT INTO outbox_body (outbox_id, body_text, body_html, attachments) "
               "SELECT id, body_text, body_html, attachments FROM outbox")
    # ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35 and PostgreSQL): the outbox keeps its id,
    # its rows and the notices that point at them; no copy of the table is made.
    for column in ("body_text", "body_html", "attachments"):
        op.execute(f"ALTER TABLE outbox DROP COLUMN {column}")
    op.drop_index("ix_notice_unsent", table_name="notice")
    op.create_index("ix_notice_unsent", "notice", ["recipient_id"], unique=False,
                    sqlite_where=sa.text("outbox_id IS NULL"),
                    postgresql_where=sa.text("outbox_id IS NULL"))
    op.drop_index("ix_outbox_status", table_name="outbox")
    for name, where in (("ix_outbox_queued", "status IN ('pending', 'failed')"),
                        ("ix_outbox_in_flight", "status IN ('claimed', 'sending')"),
                        ("ix_outbox_attention", "status IN ('unknown', 'dead')")):
        op.create_index(name, "outbox", ["id"], unique=False, sqlite_where=sa.text(where),
                        postgresql_where=sa.text(where))


def downgrade() -> None:
    for name in ("ix_outbox_queued", "ix_outbox_in_flight", "ix_outbox_attention"):
        op.drop_index(name, table_name="outbox")
    op.create_index("ix_outbox_status", "outbox", ["status", "id"], unique=False)
    op.drop_index("ix_notice_unsent", table_name="notice")
    op.create_index("ix_notice_unsent", "notice", ["outbox_id", "recipient_id"], unique=False)
    for column, default in (("body_text", "''"), ("body_html", "''"), ("attachments", "'[]'")):
        op.execute(f"ALTER TABLE outbox ADD COLUMN {column} VARCHAR NOT NULL DEFAULT {default}")
    op.execute("UPDATE outbox SET body_text = b.body_text, body_html = b.body_html, "
               "attachments = b.attachments FROM outbox_body AS b WHERE b.outbox_id = outbox.id")
    op.drop_table("outbox_body")
