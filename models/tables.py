"""All of Tindak's tables, in one place.

Each entity has a `XBase` (shared fields) and `X(table=True)` (the table); public views live
with the code that shows them. Integrity lives in the database too: unique keys, foreign
keys and CHECK constraints, not only in Python.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Status(enum.StrEnum):
    """Follow-up status (after BPK's follow-up statuses and GAO's closure categories)."""

    open = "open"
    in_progress = "in_progress"
    awaiting_verification = "awaiting_verification"
    completed = "completed"
    not_actionable = "not_actionable"


ACTIVE_STATUSES = (Status.open.value, Status.in_progress.value)
CLOSED_STATUSES = (
    Status.awaiting_verification.value,
    Status.completed.value,
    Status.not_actionable.value,
)


class Priority(enum.StrEnum):
    high = "high"
    normal = "normal"
    low = "low"


class Role(enum.StrEnum):
    planner = "planner"
    owner = "owner"
    leader = "leader"


# The 14 komponen standar pelayanan, the SKM unsur not already covered, and "lainnya".
CATEGORIES = (
    "persyaratan",
    "prosedur",
    "jangka_waktu",
    "biaya",
    "produk",
    "pengaduan",
    "dasar_hukum",
    "sarana",
    "kompetensi",
    "pengawasan",
    "jumlah_pelaksana",
    "jaminan_pelayanan",
    "jaminan_keamanan",
    "evaluasi_kinerja",
    "perilaku",
    "lainnya",
)


def _in(column: str, values: tuple[str, ...] | type[enum.Enum]) -> str:
    vals = [v.value for v in values] if isinstance(values, type) else list(values)
    return f"{column} IN ({', '.join(repr(v) for v in vals)})"


class UnitBase(SQLModel):
    code: str = Field(max_length=64)
    name: str = Field(max_length=300)
    timezone: str = Field(default="Asia/Jakarta", max_length=64)


class Unit(UnitBase, table=True):
    """A unit kerja / OPD / UPT; units form a tree through parent_id."""

    __table_args__ = (
        sa.UniqueConstraint("code", name="uq_unit_code"),
        sa.CheckConstraint(
            "timezone IN ('Asia/Jakarta', 'Asia/Makassar', 'Asia/Jayapura')", name="ck_unit_tz"
        ),
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", name="ck_unit_parent"),
    )
    id: int | None = Field(default=None, primary_key=True)
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)


class PersonBase(SQLModel):
    email: str = Field(max_length=254)
    name: str = Field(max_length=200)
    roles: str = Field(default="owner", max_length=64)  # several joined with ';'


class Person(PersonBase, table=True):
    """Someone who plans, owns, supervises or leads; identified by email."""

    __table_args__ = (sa.UniqueConstraint("email", name="uq_person_email"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    supervisor_id: int | None = Field(default=None, foreign_key="person.id", index=True)


class ForumBase(SQLModel):
    title: str = Field(max_length=500)
    held_on: date
    place: str | None = Field(default=None, max_length=300)
    minutes_ref: str | None = Field(default=None, max_length=500)


class Forum(ForumBase, table=True):
    """An FKP event and its Berita Acara; identified by title and date."""

    __table_args__ = (sa.UniqueConstraint("title", "held_on", name="uq_forum_title_date"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)


class RecommendationBase(SQLModel):
    ref: str = Field(max_length=100)
    text: str
    category: str = Field(default="lainnya", max_length=40)
    priority: str = Field(default="normal", max_length=10)
    deadline: date
    deadline_rule: str | None = Field(default=None, max_length=20)  # "+N hk" as given
    status: str = Field(default=Status.open.value, max_length=32)
    progress: int = 0


class Recommendation(RecommendationBase, table=True):
    """One recommendation of a Berita Acara, tracked until done."""

    __table_args__ = (
        sa.UniqueConstraint("ref", name="uq_recommendation_ref"),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name="ck_rec_progress"),
        sa.CheckConstraint(_in("status", Status), name="ck_rec_status"),
        sa.CheckConstraint(_in("priority", Priority), name="ck_rec_priority"),
        sa.CheckConstraint(_in("category", CATEGORIES), name="ck_rec_category"),
        sa.CheckConstraint(
            "status <> 'completed' OR progress = 100", name="ck_rec_completed_full"
        ),
        sa.Index("ix_rec_status_deadline", "status", "deadline"),
        # A leader's digest counts and lists by unit, status and deadline: without it each
        # digest scans every overdue item of the country (100k items: 0.3 s a leader).
        sa.Index("ix_rec_unit_status_deadline", "unit_id", "status", "deadline"),
    )
    id: int | None = Field(default=None, primary_key=True)
    forum_id: int = Field(foreign_key="forum.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    owner_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # When the owner last reported (or the item was registered): drives the stale nudge.
    last_progress_at: datetime = Field(default_factory=utcnow)
    public_note: str | None = None
    # The Berita Acara's deadline once an approved extension moved `deadline` (the deadline
    # in force, which every reminder, escalation and rate follows); None: never moved.
    original_deadline: date | None = None


class ExtensionStatus(enum.StrEnum):
    requested = "requested"  # waiting for a planner's decision; the deadline has not moved
    approved = "approved"  # the deadline in force is `until` from the decision on
    rejected = "rejected"


class Extension(SQLModel, table=True):
    """A request to move an item's deadline (perpanjangan waktu) and its decision: a record,
    never a silent edit (SPEC §7). Decided by a planner of the tree who neither asked for it
    nor owns the item; at most one request of an item waits at a time."""

    __table_args__ = (
        sa.CheckConstraint(_in("status", ExtensionStatus), name="ck_extension_status"),
        sa.CheckConstraint("until > previous", name="ck_extension_later"),
        sa.Index("uq_extension_waiting", "recommendation_id", unique=True,
                 sqlite_where=sa.text("status = 'requested'"),
                 postgresql_where=sa.text("status = 'requested'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    recommendation_id: int = Field(foreign_key="recommendation.id", index=True)
    previous: date  # the deadline in force when it was asked for
    until: date
    reason: str
    status: str = Field(default=ExtensionStatus.requested.value, max_length=16)
    requested_by: int = Field(foreign_key="person.id")
    requested_at: datetime = Field(default_factory=utcnow)
    decided_by: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = None
    note: str | None = None  # the decider's


class ProgressUpdate(SQLModel, table=True):
    """One report on a recommendation: progress, status, note and evidence, by whom."""

    __tablename__ = "progress_update"
    __table_args__ = (
        sa.CheckConstraint(
            "progress IS NULL OR (progress >= 0 AND progress <= 100)", name="ck_upd_progress"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    recommendation_id: int = Field(foreign_key="recommendation.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    progress: int | None = None
    status: str | None = Field(default=None, max_length=32)
    note: str | None = None
    evidence_url: str | None = Field(default=None, max_length=2000)
    evidence_file: str | None = Field(default=None, max_length=300)  # stored name under files/
    evidence_name: str | None = Field(default=None, max_length=300)  # name as uploaded
    kind: str = Field(default="report", max_length=20)  # report | verify | reject


class AuditRecord(SQLModel, table=True):
    """Who changed what, when. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_record"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=254)  # a person's email, or "import:<file>" / "system"
    action: str = Field(max_length=40)
    entity: str = Field(max_length=40)
    entity_key: str = Field(max_length=254, index=True)
    changes: str = "{}"  # JSON: {"field": [old, new], ...}


class HolidayOverride(SQLModel, table=True):
    """An admin's change to the working-day calendar: add a holiday, or cancel one."""

    __tablename__ = "holiday_override"
    __table_args__ = (
        sa.UniqueConstraint("day", name="uq_holiday_day"),
        sa.CheckConstraint("kind IN ('add', 'cancel')", name="ck_holiday_kind"),
    )
    id: int | None = Field(default=None, primary_key=True)
    day: date
    kind: str = Field(max_length=10)
    name: str = Field(default="", max_length=200)
    created_by: str = Field(default="system", max_length=254)
    created_at: datetime = Field(default_factory=utcnow)


class Notice(SQLModel, table=True):
    """A notice the rules decided for one item at one stage; at most once per (item, stage)."""

    __table_args__ = (
        sa.UniqueConstraint("recommendation_id", "stage", name="uq_notice_stage"),
        # Only the notices not yet in a message (a few days' worth), not every notice ever
        # planned: planning inserts into a small index, composing removes from it.
        sa.Index("ix_notice_unsent", "recipient_id", sqlite_where=sa.text("outbox_id IS NULL"),
                 postgresql_where=sa.text("outbox_id IS NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    recommendation_id: int = Field(foreign_key="recommendation.id")
    stage: str = Field(max_length=40)  # before_14, due, overdue_0, overdue_1, esc1, esc2, stale_…
    kind: str = Field(max_length=20)  # reminder | escalation
    recipient_id: int = Field(foreign_key="person.id")
    cc_id: int | None = Field(default=None, foreign_key="person.id")
    on_date: date
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    created_at: datetime = Field(default_factory=utcnow)


class OutboxStatus(enum.StrEnum):
    pending = "pending"  # queued, never tried or safe to try again
    claimed = "claimed"  # taken by a delivery batch, not yet handed to SMTP
    sending = "sending"  # handed to SMTP; if the run dies now we cannot know
    sent = "sent"
    failed = "failed"  # refused by the server; retried by the next run
    unknown = "unknown"  # the server may have accepted it: never resent automatically
    dead = "dead"  # failed max_attempts times; `tindak outbox retry` re-queues


QUEUED_SQL = "status IN ('pending', 'failed')"
IN_FLIGHT_SQL = "status IN ('claimed', 'sending')"
ATTENTION_SQL = "status IN ('unknown', 'dead')"


class Outbox(SQLModel, table=True):
    """One planned message, written with a unique key before any attempt to send it."""

    __table_args__ = (
        sa.UniqueConstraint("key", name="uq_outbox_key"),
        sa.CheckConstraint(_in("status", OutboxStatus), name="ck_outbox_status"),
        # Partial indexes by id for the states a run looks for, and none on the status
        # itself: marking a message 'sending' (a commit before every message) then writes
        # its row and no index page. Other states are rare (unknown, dead) or only listed.
        sa.Index("ix_outbox_queued", "id", sqlite_where=sa.text(QUEUED_SQL),
                 postgresql_where=sa.text(QUEUED_SQL)),
        sa.Index("ix_outbox_in_flight", "id", sqlite_where=sa.text(IN_FLIGHT_SQL),
                 postgresql_where=sa.text(IN_FLIGHT_SQL)),
        sa.Index("ix_outbox_attention", "id", sqlite_where=sa.text(ATTENTION_SQL),
                 postgresql_where=sa.text(ATTENTION_SQL)),
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64)
    kind: str = Field(max_length=20)  # reminder | escalation | digest
    on_date: date
    recipient: str = Field(max_length=254)
    cc: str = ""  # comma-separated addresses
    subject: str = Field(max_length=500)
    message_id: str = Field(max_length=200)
    status: str = Field(default=OutboxStatus.pending.value, max_length=16)
    attempts: int = 0
    last_error: str | None = None
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    eml_path: str | None = None


class OutboxBody(SQLModel, table=True):
    """A queued message's rendered content, kept apart from its delivery state: marking a
    message claimed, sending or sent then writes one small row, not the ~15 kB of its
    bodies (delivery commits such a mark before every message it hands to SMTP)."""

    __tablename__ = "outbox_body"
    outbox_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"),
                            primary_key=True, autoincrement=False))
    body_text: str
    body_html: str
    attachments: str = "[]"  # JSON list of {cid, mime, b64} for inline images
    # JSON object of extra headers (List-Unsubscribe, List-Unsubscribe-Post: RFC 8058);
    # only names of `tindak.outbox.mime.EXTRA_HEADERS` are ever written to a message.
    headers: str | None = None


class RecipientState(enum.StrEnum):
    accepted = "accepted"  # the server took the message for this address
    deferred = "deferred"  # refused for now (4xx): retried alone by the next run
    refused = "refused"  # refused for good (5xx): not retried unless `tindak outbox retry`


class OutboxRecipient(SQLModel, table=True):
    """How each recipient of a message fared, written only once a server refused some of
    them and took the others (RFC 5321 §4.5.4): a retry then goes to the rest alone."""

    __tablename__ = "outbox_recipient"
    __table_args__ = (
        sa.CheckConstraint(_in("state", RecipientState), name="ck_outbox_recipient_state"),
    )
    outbox_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"),
                            primary_key=True, autoincrement=False))
    address: str = Field(primary_key=True, max_length=254)
    state: str = Field(max_length=16)
    reply: str | None = None  # the server's answer for a refusal
    at: datetime = Field(default_factory=utcnow)


BODY_FIELDS = ("body_text", "body_html", "attachments", "headers")


class LoginNonce(SQLModel, table=True):
    """A one-time sign-in link's nonce: burnt (used_at set) on first use."""

    __tablename__ = "login_nonce"
    __table_args__ = (sa.UniqueConstraint("nonce", name="uq_login_nonce"),)
    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=64)
    email: str = Field(max_length=254, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None


class Subscriber(SQLModel, table=True):
    """A member of the public who confirmed (double opt-in) that they want a forum's weekly
    update. Nothing else is kept about them (UU 27/2022): the address, the forum, the time
    of consent, and up to when their updates have told the changes. Unsubscribing deletes
    the row."""

    __table_args__ = (sa.UniqueConstraint("email", "forum_id", name="uq_subscriber_forum"),)
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    forum_id: int = Field(foreign_key="forum.id", index=True)
    consented_at: datetime = Field(default_factory=utcnow)
    # The changes up to this moment have been told (None: none yet, since consent).
    told_until: datetime | None = None


class Verdict(enum.StrEnum):
    sesuai = "sesuai"  # done as agreed
    belum_sesuai = "belum_sesuai"  # not yet as agreed


class PublicAnswer(SQLModel, table=True):
    """A subscriber's answer on a completed item: sesuai or belum sesuai, with a comment.
    One per subscriber and item (changeable); when the subscriber leaves, the answer stays
    in the tally without them (subscriber_id NULL)."""

    __tablename__ = "public_answer"
    __table_args__ = (
        sa.UniqueConstraint("recommendation_id", "subscriber_id", name="uq_public_answer"),
        sa.CheckConstraint(_in("verdict", Verdict), name="ck_public_answer_verdict"),
    )
    id: int | None = Field(default=None, primary_key=True)
    recommendation_id: int = Field(foreign_key="recommendation.id", index=True)
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id", index=True)
    verdict: str = Field(max_length=16)
    comment: str | None = None
    answered_at: datetime = Field(default_factory=utcnow)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table of a table model (SQLModel sets `__table__` without declaring it)."""
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table), model
    return table
