"""the public's loop (SPEC §7): subscribers, their answers, extra mail headers

`subscriber` keeps a confirmed subscription (email, forum, time of consent, and up to when
the weekly updates have told the changes); `public_answer` a subscriber's "sesuai / belum
sesuai" on a completed item; `outbox_body.headers` the extra headers a message carries
(List-Unsubscribe and List-Unsubscribe-Post, RFC 8058).

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE outbox_body ADD COLUMN headers VARCHAR")
    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("forum_id", sa.Integer(), nullable=False),
        sa.Column("consented_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("told_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["forum_id"], ["forum.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email", "forum_id", name="uq_subscriber_forum"),
    )
    op.create_index("ix_subscriber_email", "subscriber", ["email"])
    op.create_index("ix_subscriber_forum_id", "subscriber", ["forum_id"])
    op.create_table(
        "public_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("verdict IN ('sesuai', 'belum_sesuai')",
                           name="ck_public_answer_verdict"),
        sa.ForeignKeyConstraint(["recommendation_id"], ["recommendation.id"]),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recommendation_id", "subscriber_id", name="uq_public_answer"),
    )
    op.create_index("ix_public_answer_recommendation_id", "public_answer",
                    ["recommendation_id"])
    op.create_index("ix_public_answer_subscriber_id", "public_answer", ["subscriber_id"])


def downgrade() -> None:
    op.drop_index("ix_public_answer_subscriber_id", table_name="public_answer")
    op.drop_index("ix_public_answer_recommendation_id", table_name="public_answer")
    op.drop_table("public_answer")
    op.drop_index("ix_subscriber_forum_id", table_name="subscriber")
    op.drop_index("ix_subscriber_email", table_name="subscriber")
    op.drop_table("subscriber")
    op.execute("ALTER TABLE outbox_body DROP COLUMN headers")
