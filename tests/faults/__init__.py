"""Helpers for the fault trials (tests/test_faults.py): child processes to kill, an SMTP
handler that can kill them at a chosen moment, bulk data and outbox snapshots.

The child scripts next to this file (`child.py`, `cli.py`) run by path in a fresh
interpreter, so they import Tindak only, never the tests package.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.smtp import SMTP

from models import (
    Forum,
    Notice,
    Outbox,
    Person,
    Recommendation,
    Unit,
    get_engine,
    insert_messages,
)
from tindak.smtp_sink import SinkHandler, SmtpSink, _Controller

HERE = Path(__file__).parent
CHILD = HERE / "child.py"
CLI = HERE / "cli.py"
T = Outbox.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)


# ---------------------------------------------------------------- processes


def child_env(home: Path, db_url: str, **tindak: object) -> dict[str, str]:
    """This environment without TINDAK_*, plus a home, a database and TINDAK_<KEY> values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINDAK_")}
    env.update(TINDAK_HOME=str(home), TINDAK_DATABASE_URL=db_url,
               TINDAK_SECRET_KEY="test-secret-key-not-for-production",
               PYTHONUNBUFFERED="1")
    env.update({f"TINDAK_{k.upper()}": str(v) for k, v in tindak.items()})
    return env


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """A child in its own process group (so that it and its children can be ended together)."""
    return subprocess.Popen([sys.executable, *args], env=env, cwd=cwd, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


class Lines:
    """A child's stdout, line by line, read by a thread (so a wait can time out)."""

    def __init__(self, proc: subprocess.Popen):
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        thread.start()

    def _read(self, stream: Any) -> None:
        try:
            for line in stream:
                self.queue.put(line.rstrip("\n"))
        except (ValueError, OSError):  # the test closed the pipe: the child is gone
            pass
        self.queue.put("")  # the end of the stream

    def expect(self, prefix: str, timeout: float = 60) -> str:
        """The next line starting with `prefix` (other lines are kept in `seen`)."""
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.queue.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line '{prefix}…' within {timeout} s; "
                                     f"got {self.seen[-5:]}") from None
            if line == "":
                raise AssertionError(f"the child ended before '{prefix}…'; got {self.seen[-5:]}")
            self.seen.append(line)
            if line.startswith("error "):
                raise AssertionError(f"a child failed: {line}")
            if line.startswith(prefix):
                return line


    def rest(self, timeout: float = 60) -> list[str]:
        """Every line up to the end of the stream (the child has exited or is exiting)."""
        end = time.monotonic() + timeout
        while True:
            line = self.queue.get(timeout=max(0.01, end - time.monotonic()))
            if line == "":
                return self.seen
            self.seen.append(line)


class Zygote:
    """`child.py zygote`: forks a fresh process per trial (see child.py)."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.proc = start([str(CHILD), "zygote"], env, cwd)
        try:
            self.lines = Lines(self.proc)
            self.lines.expect("zygote")
        except BaseException:
            end(self.proc)
            raise

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def fork(self, mode: str, *args: object, **settings: object) -> int:
        pairs = " ".join(f"{k}={v}" for k, v in settings.items())
        self._send(f"fork {mode} {pairs} -- {' '.join(str(a) for a in args)}")
        return int(self.lines.expect("ready ").split()[1])

    def go(self, pid: int) -> None:
        self._send(f"go {pid}")

    def wait_ended(self, pid: int, timeout: float = 60) -> None:
        """Until the process has ended (a zombie, not reaped yet: its id stays ours)."""
        end = time.monotonic() + timeout
        while _state(pid) not in ("Z", "X", None):
            if time.monotonic() > end:
                raise AssertionError(f"process {pid} still running after {timeout} s")
            time.sleep(0.005)

    def reap(self, pid: int) -> int:
        """The exit code of an ended child (-9 when killed)."""
        self._send(f"reap {pid}")
        return int(self.lines.expect(f"exit {pid} ").split()[2])

    def done(self, pid: int) -> bool:
        """Whether the child said it finished its work (read what it has printed so far)."""
        while not self.lines.queue.empty():
            self.lines.seen.append(self.lines.queue.get())
        return any(line.startswith(f"done {pid} ") for line in self.lines.seen)

    def close(self) -> None:
        end(self.proc)  # the forks share its process group


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """The ids of every process below `pid` (read from /proc; children first found first)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for kid in parents.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def end(proc: subprocess.Popen, grace: float = 10) -> None:
    """Stop a child we started, with everything it started: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill_group(proc)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


# ---------------------------------------------------------------- SMTP


MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class FaultHandler(SinkHandler):
    """The sink's handler (keeps every message), with a per-message delay and a trap that
    SIGKILLs a victim process at one SMTP event: 'connect' (the greeting), 'mail' (MAIL
    FROM), 'data-before' (the data arrived, not kept) or 'data-after' (kept, the client
    never sees the '250')."""

    def __init__(self) -> None:
        super().__init__(None)
        self.delay = 0.0
        self.counts: Counter[str] = Counter()
        self.mids: Counter[str] = Counter()  # Message-IDs received, and how many times
        self.trap: tuple[str, int] | None = None
        self.victim: int | None = None

    def arm(self, event: str, nth: int, victim: int) -> None:
        self.counts.clear()
        self.trap, self.victim = (event, nth), victim

    def disarm(self) -> None:
        self.trap, self.victim = None, None

    def event(self, name: str) -> bool:
        self.counts[name] += 1
        if self.trap == (name, self.counts[name]) and self.victim is not None:
            os.kill(self.victim, signal.SIGKILL)
            self.trap = None
            return True
        return False

    def keep(self, envelope: Any) -> str:
        reply = super().keep(envelope)
        data = self.received[-1].data
        found = MESSAGE_ID.search(data.split(b"\r\n\r\n", 1)[0])
        self.mids[found.group(1).decode() if found else "(none)"] += 1
        return reply

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        self.event("mail")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.event("data-before"):
            return "451 the client is gone"
        reply = self.keep(envelope)
        self.event("data-after")
        return reply


class _FaultSMTP(SMTP):
    """aiosmtpd's SMTP session, telling the handler when it greets a new client."""

    async def push(self, status: str) -> None:
        if status.startswith("220 ") and not getattr(self, "_greeted", False):
            self._greeted = True
            self.event_handler.event("connect")
        await super().push(status)


class _FaultController(_Controller):
    def factory(self) -> SMTP:
        return _FaultSMTP(self.handler, **self.SMTP_kwargs)


class FaultSink(SmtpSink):
    """The project's SMTP sink (127.0.0.1, a free port), with a FaultHandler."""

    controller_class = _FaultController
    server_hostname = "tindak-faults.localhost"

    def __init__(self) -> None:
        super().__init__(handler=FaultHandler())

    @property
    def faults(self) -> FaultHandler:
        return self.handler  # type: ignore[return-value]


# ---------------------------------------------------------------- data


def enqueue(n: int, tag: str) -> list[int]:
    """n messages straight into the outbox, as the follow-up engine writes them."""
    from tindak.outbox import new_message_id

    rows = [dict(key=f"{tag}-{i}", kind="reminder", on_date=NOW.date(),
                 recipient=f"{tag}-{i}@example.go.id", cc="", subject=f"[Tindak] {tag} {i}",
                 body_text=f"Pesan {i} ({tag})\n" + "Rekomendasi ditindaklanjuti.\n" * 20,
                 body_html=f"<p>Pesan {i} ({tag})</p>", message_id=new_message_id(),
                 attachments="[]", status="pending", attempts=0, created_at=NOW)
            for i in range(n)]
    with get_engine(writer=True).begin() as conn:
        return sorted(insert_messages(conn, rows).values())


def outbox(ids: Iterable[int] | None = None) -> list[sa.Row]:
    q = sa.select(T.c.id, T.c.key, T.c.status, T.c.recipient, T.c.message_id, T.c.attempts,
                  T.c.last_error, T.c.kind).order_by(T.c.id)
    if ids is not None:
        q = q.where(T.c.id.in_(list(ids)))
    with get_engine().connect() as conn:
        return list(conn.execute(q))


def status_counts(ids: Iterable[int] | None = None) -> dict[str, int]:
    return dict(Counter(r.status for r in outbox(ids)))


def build_team(tag: str, owners: int, as_of: date, per_supervisor: int = 5) -> dict[str, Any]:
    """A unit with `owners` owners (each with a supervisor over up to `per_supervisor` of
    them) and two items each: one due in 7 days (a reminder) and one 8 days late (an
    overdue reminder to the owner and an escalation to the supervisor). Written in bulk."""
    ut, pt, ft, rt = (m.__table__ for m in (Unit, Person, Forum, Recommendation))  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    with get_engine(writer=True).begin() as conn:
        unit = conn.execute(sa.insert(ut).returning(ut.c.id),
                            [{"code": tag, "name": f"Dinas {tag}",
                              "timezone": "Asia/Jakarta"}]).scalar_one()
        n_sup = (owners + per_supervisor - 1) // per_supervisor
        sups = [{"email": f"{tag.lower()}-kabid{j}@example.go.id", "name": f"Kabid {j}",
                 "roles": "owner", "unit_id": unit} for j in range(n_sup)]
        sup_ids = sorted(r.id for r in conn.execute(sa.insert(pt).returning(pt.c.id), sups))
        people = [{"email": f"{tag.lower()}-pic{i}@example.go.id", "name": f"PIC {i}",
                   "roles": "owner", "unit_id": unit,
                   "supervisor_id": sup_ids[i // per_supervisor]} for i in range(owners)]
        owner_ids = sorted(r.id for r in conn.execute(sa.insert(pt).returning(pt.c.id), people))
        forum = conn.execute(sa.insert(ft).returning(ft.c.id),
                             [{"title": f"FKP {tag}", "held_on": as_of - timedelta(days=60),
                               "unit_id": unit}]).scalar_one()
        recs = []
        for i, oid in enumerate(owner_ids):
            for part, days in (("A", 7), ("B", -8)):
                recs.append({"ref": f"{tag}-{i}{part}", "forum_id": forum, "unit_id": unit,
                             "owner_id": oid, "text": f"Rekomendasi {tag} {i}{part}",
                             "category": "prosedur", "priority": "normal",
                             "deadline": as_of + timedelta(days=days), "status": "open",
                             "progress": 0, "created_at": now, "updated_at": now,
                             "last_progress_at": now})
        conn.execute(sa.insert(rt), recs)
    return {"unit": unit, "owners": len(owner_ids), "supervisors": n_sup,
            "recs": len(recs)}


def close_items(unit_id: int) -> None:
    """Mark a unit's items completed, so that later trials plan nothing for them."""
    rt = Recommendation.__table__  # type: ignore[attr-defined]
    with get_engine(writer=True).begin() as conn:
        conn.execute(rt.update().where(rt.c.unit_id == unit_id)
                     .values(status="completed", progress=100))


def notices_of(unit_id: int) -> list[sa.Row]:
    nt, rt = Notice.__table__, Recommendation.__table__  # type: ignore[attr-defined]
    with get_engine().connect() as conn:
        return list(conn.execute(
            sa.select(nt.c.id, nt.c.recommendation_id, nt.c.stage, nt.c.kind,
                      nt.c.recipient_id, nt.c.outbox_id)
            .join(rt, rt.c.id == nt.c.recommendation_id).where(rt.c.unit_id == unit_id)))


def table_counts() -> dict[str, int]:
    from sqlmodel import SQLModel

    with get_engine().connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for name, t in sorted(SQLModel.metadata.tables.items())}
