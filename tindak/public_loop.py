"""Closing the loop with the public (SPEC §7): subscriptions by double opt-in, invitations
of a forum's participants, the weekly update of what changed, and "sesuai / belum sesuai".

Guarantees:
- nobody is subscribed without clicking their own signed link: a confirmation (or an
  invitation) stores nothing until it is confirmed; the link carries the address and the
  forum, signed, for 7 days;
- a subscriber is the address, the forum, the time of consent and up to when their updates
  have told the changes (UU 27/2022: nothing else); unsubscribing deletes the row, and their
  answers stay in the tally without them;
- at most one update per address per ISO week (an outbox key per address and week, like
  the digest's), and none when nothing changed; every update carries List-Unsubscribe and
  List-Unsubscribe-Post (RFC 8058);
- nothing public ever shows a subscriber: the public page shows counts only.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from models import (
    Extension,
    ExtensionStatus,
    Forum,
    Outbox,
    ProgressUpdate,
    PublicAnswer,
    Recommendation,
    Status,
    Subscriber,
    Unit,
    Verdict,
    insert_messages,
    session,
    table_of,
    utcnow,
    write_session,
)
from tindak import links
from tindak.errors import N_, Forbidden, InvalidInput, NotFound
from tindak.settings import get_settings
from tindak.validators import is_email

COMMENT_MAX = 2000
VERDICTS = tuple(v.value for v in Verdict)


def _valid_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not is_email(email):
        raise InvalidInput(N_("'%(value)s' is not an email address"), value=email[:60])
    return email


def _forum(s: Session, forum_id: int) -> Forum:
    forum = s.get(Forum, forum_id)
    if forum is None:
        raise NotFound(N_("no forum %(id)s"), id=forum_id)
    return forum


def _subscribed(s: Session, email: str, forum_id: int) -> bool:
    return s.execute(sa.select(col(Subscriber.id)).where(
        col(Subscriber.email) == email, col(Subscriber.forum_id) == forum_id)).first() is not None


def _confirmation(email: str, forum: Forum, base: str, lang: str, invited: bool,
                  key: str) -> dict[str, Any]:
    """The outbox row of a confirmation (or invitation) mail with its signed link."""
    from tindak import mail
    from tindak.outbox.store import outbox_row

    assert forum.id is not None  # a stored forum
    url = f"{base.rstrip('/')}/langganan/{links.subscribe_token(email, forum.id)}"
    rendered = mail.render_subscribe(lang, forum.title, url, links.SUBSCRIBE_MAX_AGE // 86400,
                                     invited)
    return outbox_row(key, "subscribe", utcnow().date(), email, [], rendered, utcnow())


def forum_title(forum_id: int) -> dict[str, Any]:
    with session() as s:
        forum = _forum(s, forum_id)
        return {"id": forum.id, "title": forum.title}


def request_subscription(email: str, forum_id: int, base: str | None, lang: str) -> int | None:
    """Queue a confirmation mail for `email` to follow forum `forum_id`: its outbox id, for
    the caller to send at once (`outbox.send_soon`); None when the address is already
    subscribed or links cannot be made. The caller answers the same either way."""
    email = _valid_email(email)
    with session() as s:
        forum = _forum(s, forum_id)
        if base is None or _subscribed(s, email, forum_id):
            return None
        row = _confirmation(email, forum, base, lang, False, f"subscribe:{secrets.token_hex(16)}")
    with write_session() as s:
        return insert_messages(s, [row])[row["key"]]


def queue_invitations(s: Session, invites: list[tuple[str, int]], base: str,
                      lang: str) -> list[int]:
    """Queue an invitation for each (email, forum id) not yet subscribed, in the caller's
    transaction (the import's): the key is per address and forum, so importing the same
    participants again invites nobody twice. Returns the outbox ids of those queued."""
    from tindak.outbox.store import message_key

    rows = []
    forums: dict[int, Forum] = {}
    for email, forum_id in dict.fromkeys(invites):
        if forum_id not in forums:
            forums[forum_id] = _forum(s, forum_id)
        if _subscribed(s, email, forum_id):
            continue
        key = message_key("invite", email, forums[forum_id].held_on, [forum_id])
        rows.append(_confirmation(email, forums[forum_id], base, lang, True, key))
    return list(insert_messages(s, rows, skip_existing=True).values()) if rows else []


def check_subscription(token: str) -> dict[str, Any]:
    """What a confirmation link asks (for the confirm page); Forbidden when forged or old."""
    email, forum_id = links.read_subscribe_token(token)
    with session() as s:
        forum = _forum(s, forum_id)
        return {"email": email, "forum_id": forum_id, "forum": forum.title,
                "already": _subscribed(s, email, forum_id)}


def confirm_subscription(token: str, now: datetime | None = None) -> int:
    """Store the subscription a valid link asks for (once; a second click changes nothing);
    returns the forum's id."""
    email, forum_id = links.read_subscribe_token(token)
    with write_session() as s:
        _forum(s, forum_id)
        bind = s.get_bind()
        ins = (postgresql.insert(table_of(Subscriber)) if bind.dialect.name == "postgresql"
               else sqlite.insert(table_of(Subscriber)))
        s.execute(ins.values(email=email, forum_id=forum_id, consented_at=now or utcnow())
                  .on_conflict_do_nothing())
    return forum_id


def _subscriber_of(s: Session, subscriber_id: int, email: str) -> Subscriber | None:
    sub = s.get(Subscriber, subscriber_id)
    return sub if sub is not None and sub.email == email else None


def _ended_by(s: Session, token: str) -> tuple[str, list[int]]:
    """The address of an unsubscribe link and the subscriptions it ends: its own, or (a
    weekly update's link) every subscription of that address; none once it was used."""
    subscriber_id, email, everything = links.read_unsubscribe_token(token)
    if _subscriber_of(s, subscriber_id, email) is None:
        return email, []
    if not everything:
        return email, [subscriber_id]
    return email, list(s.execute(sa.select(col(Subscriber.id)).where(
        col(Subscriber.email) == email)).scalars())


def check_unsubscribe(token: str) -> dict[str, Any]:
    """What an unsubscribe link is for (the forums it ends); `gone` when nothing is left."""
    with session() as s:
        email, ids = _ended_by(s, token)
        titles = list(s.execute(sa.select(col(Forum.title)).join(
            Subscriber, col(Subscriber.forum_id) == Forum.id).where(
            col(Subscriber.id).in_(ids)).order_by(col(Forum.title))).scalars()) if ids else []
    return {"email": email, "gone": not ids, "forums": titles}


def unsubscribe(token: str) -> int:
    """Forget the subscriptions of a valid link (delete the rows; their answers stay
    counted, without them): how many were ended (0 when already gone; the page says the
    same)."""
    with write_session() as s:
        _email, ids = _ended_by(s, token)
        if ids:
            s.execute(sa.update(PublicAnswer).where(col(PublicAnswer.subscriber_id).in_(ids))
                      .values(subscriber_id=None))
            s.execute(sa.delete(Subscriber).where(col(Subscriber.id).in_(ids)))
    return len(ids)


# ---------------------------------------------------------------- sesuai / belum sesuai


def _answerable(s: Session, token: str) -> tuple[Subscriber, Recommendation, str]:
    subscriber_id, email, rec_id, verdict = links.read_answer_token(token)
    sub = _subscriber_of(s, subscriber_id, email)
    if sub is None:
        raise Forbidden(N_("this answer link is no longer valid: the subscription has ended"))
    rec = s.get(Recommendation, rec_id)
    if rec is None or rec.forum_id != sub.forum_id:
        raise Forbidden(N_("this answer link is not valid"))
    if rec.status != Status.completed.value:
        raise InvalidInput(N_("%(ref)s is not completed: only a completed item can be "
                              "answered"), ref=rec.ref)
    return sub, rec, verdict if verdict in VERDICTS else Verdict.sesuai.value


def answer_page(token: str) -> dict[str, Any]:
    """The item an answer link is about, and the subscriber's answer so far."""
    with session() as s:
        sub, rec, verdict = _answerable(s, token)
        mine = s.execute(sa.select(PublicAnswer).where(
            col(PublicAnswer.recommendation_id) == rec.id,
            col(PublicAnswer.subscriber_id) == sub.id)).scalars().first()
        forum = s.get(Forum, rec.forum_id)
        return {"ref": rec.ref, "text": rec.text, "forum": forum.title if forum else "",
                "forum_id": rec.forum_id, "rec_id": rec.id,
                "verdict": mine.verdict if mine else verdict,
                "comment": (mine.comment or "") if mine else "", "answered": mine is not None}


def record_answer(token: str, verdict: str, comment: str | None,
                  now: datetime | None = None) -> dict[str, Any]:
    """A subscriber's answer on a completed item: one per subscriber and item; answering
    again replaces it."""
    if verdict not in VERDICTS:
        raise InvalidInput(N_("choose 'sesuai' or 'belum sesuai'"))
    comment = (comment or "").strip() or None
    if comment and len(comment) > COMMENT_MAX:
        raise InvalidInput(N_("the comment is %(length)s characters long; at most %(max)s "
                              "are accepted"), length=len(comment), max=COMMENT_MAX)
    with write_session() as s:
        sub, rec, _ = _answerable(s, token)
        values = {"recommendation_id": rec.id, "subscriber_id": sub.id, "verdict": verdict,
                  "comment": comment, "answered_at": now or utcnow()}
        table = table_of(PublicAnswer)
        ins = (postgresql.insert(table) if s.get_bind().dialect.name == "postgresql"
               else sqlite.insert(table))
        s.execute(ins.values(**values).on_conflict_do_update(
            index_elements=["recommendation_id", "subscriber_id"],
            set_={"verdict": verdict, "comment": comment, "answered_at": values["answered_at"]}))
        return {"forum_id": rec.forum_id, "rec_id": rec.id, "ref": rec.ref}


def tally(forum_id: int) -> dict[int, dict[str, int]]:
    """Item id → {"sesuai": n, "belum_sesuai": n} of a forum's items: counts, never who."""
    out: dict[int, dict[str, int]] = {}
    with session() as s:
        for rec_id, verdict, n in s.execute(
            sa.select(col(PublicAnswer.recommendation_id), col(PublicAnswer.verdict),
                      sa.func.count())
            .join(Recommendation, col(Recommendation.id) == PublicAnswer.recommendation_id)
            .where(col(Recommendation.forum_id) == forum_id)
            .group_by(col(PublicAnswer.recommendation_id), col(PublicAnswer.verdict))
        ):
            out.setdefault(rec_id, dict.fromkeys(VERDICTS, 0))[verdict] = n
    return out


def answers_of(rec_id: int) -> list[dict[str, Any]]:
    """Every answer on an item, newest first, with the subscriber's address (None once
    they left): for planners of the item's tree only (the caller checks)."""
    with session() as s:
        rows = s.execute(
            sa.select(col(PublicAnswer.verdict), col(PublicAnswer.comment),
                      col(PublicAnswer.answered_at), col(Subscriber.email))
            .outerjoin(Subscriber, col(Subscriber.id) == PublicAnswer.subscriber_id)
            .where(col(PublicAnswer.recommendation_id) == rec_id)
            .order_by(col(PublicAnswer.answered_at).desc(), col(PublicAnswer.id).desc())
        ).all()
    return [{"verdict": v, "comment": c, "at": a, "email": e} for v, c, a, e in rows]


def disputed_ids(rec_ids: list[int] | None = None) -> set[int]:
    """Items with at least one "belum sesuai" (among `rec_ids`, when given)."""
    q = sa.select(col(PublicAnswer.recommendation_id)).distinct().where(
        col(PublicAnswer.verdict) == Verdict.belum_sesuai.value)
    with session() as s:
        found = set(s.execute(q).scalars())
    return found if rec_ids is None else found & set(rec_ids)


# ---------------------------------------------------------------- the weekly update


@dataclass
class UpdateReport:
    subscribers: int = 0  # addresses looked at
    messages: int = 0
    skipped: int = 0  # already sent this ISO week
    unchanged: int = 0  # nothing changed in their forums: no message
    no_base_url: bool = False  # links cannot be made: nothing was queued


@dataclass(frozen=True)
class Change:
    """One thing that changed about an item, as an update tells it."""

    kind: str  # completed | not_actionable | extended | note
    rec_id: int
    ref: str
    text: str
    tz: str
    at: datetime
    reason: str | None = None  # not actionable: why; extended: why; note: the note
    until: date | None = None  # extended: the new deadline
    sesuai_url: str | None = None
    belum_url: str | None = None


@dataclass
class ForumUpdate:
    forum_id: int
    title: str
    page_url: str
    changes: list[Change] = field(default_factory=list)


def _midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def forum_changes(s: Session, forum_id: int, since: datetime, until: datetime) -> list[Change]:
    """What changed about a forum's items in [since, until): completions, closures as not
    actionable (with the reason), approved extensions, public notes; oldest first."""
    R, PU, U = Recommendation, ProgressUpdate, Unit
    base = (sa.select(col(R.id), col(R.ref), col(R.text), col(U.timezone), col(R.status),
                      col(R.public_note))
            .join(U, col(U.id) == R.unit_id).where(col(R.forum_id) == forum_id))
    out: list[Change] = []
    for rid, ref, text, tz, status, public_note, at, kind, ustatus, note in s.execute(
        base.add_columns(col(PU.at), col(PU.kind), col(PU.status), col(PU.note))
        .join(PU, col(PU.recommendation_id) == R.id)
        .where(col(PU.at) >= since, col(PU.at) < until).order_by(col(PU.at), col(PU.id))
    ):
        if kind == "verify" and status == Status.completed.value:
            out.append(Change("completed", rid, ref, text, tz, _aware(at)))
        elif (kind == "report" and ustatus == Status.not_actionable.value
              and status == Status.not_actionable.value):
            out.append(Change("not_actionable", rid, ref, text, tz, _aware(at), reason=note))
        elif note and public_note and note == public_note:
            out.append(Change("note", rid, ref, text, tz, _aware(at), reason=note))
    for rid, ref, text, tz, _status, _note, at, ext_until, reason in s.execute(
        base.add_columns(col(Extension.decided_at), col(Extension.until), col(Extension.reason))
        .join(Extension, col(Extension.recommendation_id) == R.id)
        .where(col(Extension.status) == ExtensionStatus.approved.value,
               col(Extension.decided_at) >= since, col(Extension.decided_at) < until)
    ):
        out.append(Change("extended", rid, ref, text, tz, _aware(at), reason=reason,
                          until=ext_until))
    # One line per item and kind (the latest), in the order they happened.
    latest: dict[tuple[int, str], Change] = {}
    for c in sorted(out, key=lambda c: c.at):
        latest.pop((c.rec_id, c.kind), None)
        latest[(c.rec_id, c.kind)] = c
    return list(latest.values())


def plan_updates(as_of: date, timezones: list[str] | None = None,
                 now: datetime | None = None) -> UpdateReport:
    """Queue this ISO week's update for every subscriber whose forums changed since their
    last update (up to the midnight that begins `as_of`, in the forum's timezone)."""
    from tindak import mail
    from tindak.digest import digest_key_day
    from tindak.mailmodel import PublicUpdateMail
    from tindak.outbox.store import message_key, queue_messages

    settings = get_settings()
    report = UpdateReport()
    now = now or datetime.now(UTC)
    base = settings.base_url
    with session() as s:
        q = (sa.select(col(Subscriber.id), col(Subscriber.email), col(Subscriber.forum_id),
                       col(Subscriber.consented_at), col(Subscriber.told_until), col(Forum.title),
                       col(Unit.timezone))
             .join(Forum, col(Forum.id) == Subscriber.forum_id)
             .join(Unit, col(Unit.id) == Forum.unit_id)
             .order_by(col(Subscriber.email), col(Subscriber.forum_id)))
        if timezones:
            q = q.where(col(Unit.timezone).in_(timezones))
        rows = s.execute(q).all()
    by_email: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_email[row.email].append(row)
    report.subscribers = len(by_email)
    if not by_email:
        return report
    if not base:
        report.no_base_url = True
        return report
    key_day = digest_key_day(as_of)
    keys = {email: message_key("update", email, key_day, []) for email in by_email}
    with session() as s:
        done = set(s.execute(sa.select(col(Outbox.key)).where(
            col(Outbox.key).in_(list(keys.values())))).scalars())
    cache: dict[tuple[int, datetime, datetime], list[Change]] = {}
    for email, subs in by_email.items():
        if keys[email] in done:
            report.skipped += 1
            continue
        forums: list[ForumUpdate] = []
        told: list[tuple[int, datetime]] = []
        with session() as s:
            for sub in subs:
                since = _aware(sub.told_until or sub.consented_at)
                until = min(_midnight(as_of, sub.timezone), now)
                if until <= since:
                    continue
                ck = (sub.forum_id, since, until)
                if ck not in cache:
                    cache[ck] = forum_changes(s, sub.forum_id, since, until)
                changes = [_with_links(c, sub.id, email, base) for c in cache[ck]]
                if changes:
                    forums.append(ForumUpdate(sub.forum_id, sub.title,
                                              f"{base}/forum/{sub.forum_id}", changes))
                    told.append((sub.id, until))
        if not forums:
            report.unchanged += 1
            continue
        # The message's unsubscribe link ends every subscription it tells about.
        unsub = f"{base}/berhenti/{links.unsubscribe_token(told[0][0], email, everything=True)}"
        rendered = mail.render_public_update(PublicUpdateMail(
            lang=settings.language, email=email, forums=forums, unsubscribe_url=unsub))
        with write_session() as s:
            new = queue_messages(s, [(keys[email], "update", as_of, email, [], rendered)], now)
            if new:
                for sid, until in told:
                    s.execute(sa.update(Subscriber).where(col(Subscriber.id) == sid)
                              .values(told_until=until))
        if new:
            report.messages += 1
        else:
            report.skipped += 1
    return report


def _with_links(c: Change, subscriber_id: int, email: str, base: str) -> Change:
    if c.kind != "completed":
        return c
    from dataclasses import replace

    def url(verdict: str) -> str:
        return f"{base}/tanggapan/{links.answer_token(subscriber_id, email, c.rec_id, verdict)}"

    return replace(c, sesuai_url=url(Verdict.sesuai.value),
                   belum_url=url(Verdict.belum_sesuai.value))
