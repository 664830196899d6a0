"""The fast status marks of a delivery batch (`Marks`: plain SQL through the driver, 'sent'
marks in groups) leave the very rows the plain reference (`PlainMarks`: one SQLAlchemy
statement per mark) leaves, for any sequence of outcomes, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Outbox, OutboxRecipient, get_engine, insert_messages
from tindak.outbox.marks import SENT_GROUP, Marks, PlainMarks
from tindak.outbox.store import claim, new_run_id

T = Outbox.__table__
R = OutboxRecipient.__table__

# What a batch can do with a message once 'sending' is committed (or before: not_ours).
OUTCOMES = ("sent", "sent_eml", "sent_with_note", "failed", "dead", "unknown",
            "partly", "all_took", "not_ours")


def queue(n: int) -> list[int]:
    rows = [dict(key=f"m-{uuid.uuid4().hex}", kind="reminder", on_date=date(2026, 2, 2),
                 recipient=f"owner{i}@example.go.id", cc=f"cc{i}@example.go.id", subject="s",
                 body_text="t\n", body_html="<p>h</p>",
                 message_id=f"<{uuid.uuid4().hex}@tindak.test>",
                 attachments="[]", status="pending", attempts=1, created_at=datetime.now(UTC))
            for i in range(n)]
    with get_engine(writer=True).begin() as conn:
        ids = insert_messages(conn, rows)
    return [ids[r["key"]] for r in rows]


def play(kind: type, outcomes: list[str]) -> tuple[list[bool], list[tuple], list[tuple]]:
    """Claim one row per outcome, mark each as told with `kind`, and read the rows back."""
    ids = queue(len(outcomes))
    run_id = new_run_id()
    assert [r.id for r in claim(run_id, len(ids), only=ids)] == ids
    theirs = [oid for oid, what in zip(ids, outcomes, strict=True) if what == "not_ours"]
    with get_engine(writer=True).begin() as conn:  # another run took these over
        conn.execute(T.update().where(T.c.id.in_(theirs)).values(claimed_by="run-other"))
    ours: list[bool] = []
    with get_engine(writer=True).connect() as conn:
        marks = kind(conn, run_id)
        for i, (oid, what) in enumerate(zip(ids, outcomes, strict=True)):
            ours.append(marks.sending(oid))
            a, b = f"owner{i}@example.go.id", f"cc{i}@example.go.id"
            if what in ("sent", "not_ours"):
                marks.sent(oid, None)
            elif what == "sent_eml":
                marks.sent(oid, None, f"/outbox/{oid:07d}.eml")
            elif what == "sent_with_note":
                marks.sent(oid, "taken after a retry")
            elif what in ("failed", "dead", "unknown"):
                marks.done(oid, what, 2, f"{what}: 550 5.1.1 no such user")
            elif what == "partly":
                marks.recipients(oid, [(a, "accepted", None),
                                       (b, "deferred", "452 4.2.2 mailbox full")])
                marks.done(oid, "failed", 2, f"delivered to {a}; refused for {b}")
            elif what == "all_took":
                marks.recipients(oid, [(a, "accepted", None), (b, "accepted", None)])
                marks.sent(oid, None)
        marks.flush()
        assert marks.unwritten() == 0
        marks.close()
    with get_engine().connect() as conn:
        rows = conn.execute(sa.select(T).where(T.c.id.in_(ids)).order_by(T.c.id)).all()
        fates = conn.execute(sa.select(R.c.outbox_id, R.c.address, R.c.state, R.c.reply)
                             .where(R.c.outbox_id.in_(ids))
                             .order_by(R.c.outbox_id, R.c.address)).all()
    at = {oid: i for i, oid in enumerate(ids)}  # rows compared by position, not id
    return (ours, [shape(r, run_id) for r in rows],
            [(at[f.outbox_id], f.address, f.state, f.reply) for f in fates])


def shape(r: sa.Row, run_id: str) -> tuple:
    """A row as compared: timestamps as 'set and recent', paths without the id."""
    now = datetime.now(UTC).replace(tzinfo=None)

    def recent(dt: datetime | None) -> bool | None:
        if dt is None:
            return None
        naive = dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt
        return abs(naive - now) < timedelta(minutes=5)

    return (r.status, r.attempts, r.last_error, r.claimed_by == run_id, recent(r.claimed_at),
            recent(r.sent_at), r.eml_path and r.eml_path.replace(f"{r.id:07d}", "ID"))


def test_each_outcome_leaves_the_same_row_both_ways(home):
    fast, plain = play(Marks, list(OUTCOMES)), play(PlainMarks, list(OUTCOMES))
    assert fast == plain
    ours, rows, fates = fast
    assert ours == [True] * (len(OUTCOMES) - 1) + [False]
    assert [r[0] for r in rows] == ["sent", "sent", "sent", "failed", "dead", "unknown",
                                    "failed", "sent", "claimed"]
    assert rows[1][-1] == "/outbox/ID.eml" and rows[0][5] is True
    assert [f[1:3] for f in fates] == [("cc6@example.go.id", "deferred"),
                                       ("owner6@example.go.id", "accepted"),
                                       ("cc7@example.go.id", "accepted"),
                                       ("owner7@example.go.id", "accepted")]


def test_a_batch_longer_than_a_group_of_sent_marks(home):
    outcomes = ["sent"] * (SENT_GROUP + 5) + ["failed"] + ["sent"] * 3
    assert play(Marks, outcomes) == play(PlainMarks, outcomes)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=SENT_GROUP + 10))
def test_any_sequence_of_outcomes_leaves_the_same_rows(home, outcomes):
    assert play(Marks, outcomes) == play(PlainMarks, outcomes)


@pytest.mark.parametrize("kind", [Marks, PlainMarks])
def test_a_row_another_run_holds_is_never_marked(home, kind):
    ours, rows, _ = play(kind, ["not_ours"])
    assert ours == [False] and rows[0][:4] == ("claimed", 1, None, False)
