"""deadline extensions (perpanjangan waktu)

An extension is a request with a reason, decided by another planner of the tree (SPEC §7):
`extension` keeps each request and its decision; `recommendation.original_deadline` keeps
the Berita Acara's deadline once an approval moved the deadline in force.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recommendation") as batch:
        batch.add_column(sa.Column("original_deadline", sa.Date(), nullable=True))
    op.create_table(
        "extension",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.CheckConstraint("status IN ('requested', 'approved', 'rejected')",
                           name="ck_extension_status"),
        sa.CheckConstraint("until > previous", name="ck_extension_later"),
        sa.ForeignKeyConstraint(["recommendation_id"], ["recommendation.id"]),
        sa.ForeignKeyConstraint(["requested_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["decided_by"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_extension_recommendation_id", "extension", ["recommendation_id"])
    op.create_index("uq_extension_waiting", "extension", ["recommendation_id"], unique=True,
                    sqlite_where=sa.text("status = 'requested'"),
                    postgresql_where=sa.text("status = 'requested'"))


def downgrade() -> None:
    op.drop_index("uq_extension_waiting", table_name="extension")
    op.drop_index("ix_extension_recommendation_id", table_name="extension")
    op.drop_table("extension")
    with op.batch_alter_table("recommendation") as batch:
        batch.drop_column("original_deadline")
