"""What a message is about, as plain data: the follow-up engine fills these, the mail
renderer turns them into subject, text and HTML. No database access here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tindak.rates import OnTime


@dataclass(frozen=True)
class ItemLine:
    """One recommendation as a line of a message."""

    ref: str
    text: str
    forum: str
    unit_name: str
    deadline: date
    tz: str  # the unit's IANA timezone (dates shown with WIB/WITA/WIT)
    status: str
    progress: int
    owner_name: str
    owner_email: str
    stage: str = ""  # before_14 … due, overdue_N, esc1, esc2, stale_…
    days_left: int = 0  # days until the deadline; negative once past it
    days_overdue: int = 0
    update_url: str | None = None  # the owner's signed link, when TINDAK_BASE_URL is set
    view_url: str | None = None  # escalations: what a superior can open (never an owner link)


@dataclass(frozen=True)
class NoticeMail:
    """A daily message to one recipient: reminders to an owner, or escalations to a superior."""

    kind: str  # "reminder" | "escalation"
    on_date: date
    recipient_name: str
    recipient_email: str
    items: list[ItemLine]
    cc: list[str] = field(default_factory=list)
    update_url: str | None = None  # reminders: the owner's personal page
    lang: str = "id"
    omitted: int = 0  # items left out of a long message (the most urgent are listed)
    # Section → count over every item, listed or not ('within': farthest approaching
    # deadline, in days): a subject counts them all, the list is capped.
    totals: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class UnitCount:
    unit_name: str
    counts: dict[str, int]  # status code → number of items


@dataclass(frozen=True)
class DigestMail:
    """The weekly leadership digest for one leader's unit tree."""

    leader_name: str
    leader_email: str
    unit_name: str
    week_start: date
    week_end: date
    counts: dict[str, int]  # status code → number of items in the tree
    total: int
    completion_rate: float  # 0..1: completed / (total - not_actionable)
    overdue_count: int
    overdue: list[ItemLine]  # by days overdue, most first (capped; overdue_count is exact)
    escalations: list[ItemLine]  # escalated in the past week
    completions: list[ItemLine]  # verified completed in the past week
    at_risk: list[ItemLine]
    per_unit: list[UnitCount]  # for the chart
    dashboard_url: str | None = None
    lang: str = "id"
    extended: int = 0  # items whose deadline an approved extension moved (SPEC §7)
    on_time_original: OnTime = field(default_factory=lambda: OnTime(0, 0, 0.0))
    on_time_current: OnTime = field(default_factory=lambda: OnTime(0, 0, 0.0))
    # Completed items a subscriber answered "belum sesuai" on in the past week (SPEC §7).
    disputed: list[ItemLine] = field(default_factory=list)


@dataclass(frozen=True)
class Inline:
    """An inline attachment (the digest chart), referenced as cid:<cid> from the HTML."""

    cid: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    attachments: list[Inline] = field(default_factory=list)
    headers: dict[str, str] | None = None  # extra headers (tindak.outbox.mime.EXTRA_HEADERS)


@dataclass
class DecisionMail:
    """The answer to a deadline extension request, for the one who asked (SPEC §7)."""

    lang: str
    name: str  # the one who asked
    ref: str
    text: str
    approved: bool
    previous: date
    until: date
    reason: str
    note: str | None
    decider: str
    tz: str
    page_url: str | None  # the owner's own page, for an owner


@dataclass
class PublicUpdateMail:
    """A subscriber's weekly update: what changed in their forums (SPEC §7). `forums` are
    `tindak.public_loop.ForumUpdate`s."""

    lang: str
    email: str
    forums: list
    unsubscribe_url: str  # ends every subscription this message tells about (RFC 8058)
