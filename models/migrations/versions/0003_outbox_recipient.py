"""per-recipient delivery state of outbox messages

A server may take a message for some recipients and refuse it for others (RFC 5321
§4.5.4). `outbox_recipient` records how each one fared, only for such messages (a message
every recipient took writes nothing here): a retry goes to the refused ones alone, and a
message is 'sent' only once all of them took it.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_recipient",
        sa.Column("outbox_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reply", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("state IN ('accepted', 'deferred', 'refused')",
                           name="ck_outbox_recipient_state"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("outbox_id", "address"),
    )


def downgrade() -> None:
    op.drop_table("outbox_recipient")
