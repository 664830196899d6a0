"""Delivery throughput against a bare send loop, in the same run, over a local aiosmtpd sink.

    .venv/bin/python bench/bench_delivery.py [--n 2000] [--rounds 3] [--database-url URL]

Each round queues N rendered reminders straight into the outbox, then times
- bare: the same messages, already built, sent in a loop over one yagmail connection;
- deliver(): claim, build, mark 'sending', send, mark 'sent', batch by batch.
Prints one JSON line: the best throughput of each, the median of the rounds' ratios
("ratio", the target is >= 0.8) and total bare time / total deliver() time. Rounds
alternate the two, so a busy machine hurts both alike.

The SMTP server runs in its own process (`--sink process`, the default), as a real server
does. `--sink thread` runs it inside the delivering process: there it shares one
interpreter lock with the sender, so every microsecond of Python either side spends is
spent in turn, and building the next message cannot overlap waiting for the server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yagmail  # noqa: E402

from models import Outbox, dispose_engines, get_engine, insert_messages, messages  # noqa: E402
from tindak import outbox  # noqa: E402
from tindak.database import migrate  # noqa: E402
from tindak.mail import render_notice  # noqa: E402
from tindak.mailmodel import ItemLine, NoticeMail  # noqa: E402
from tindak.outbox import new_message_id, prepare  # noqa: E402
from tindak.settings import get_settings, reset_settings  # noqa: E402
from tindak.smtp_sink import SinkHandler, SmtpSink  # noqa: E402

T = Outbox.__table__  # type: ignore[attr-defined]


class CountingHandler(SinkHandler):
    """Counts what arrives: keeping thousands of messages in memory would skew later rounds."""

    def __init__(self) -> None:
        super().__init__(None)
        self.count = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        self.count += 1
        return "250 OK"


class _SharedCounter(SinkHandler):
    def __init__(self, counter) -> None:  # type: ignore[no-untyped-def]
        super().__init__(None)
        self.counter = counter

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 OK"


def _serve(counter, conn) -> None:  # type: ignore[no-untyped-def]
    with SmtpSink(handler=_SharedCounter(counter)) as sink:
        conn.send(sink.port)
        conn.recv()  # until told to stop


class ProcessSink:
    """The same aiosmtpd sink in a process of its own; `count` as CountingHandler's."""

    def __init__(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.counter = ctx.Value("q", 0)
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(self.counter, child), daemon=True)

    @property
    def count(self) -> int:
        return int(self.counter.value)

    def __enter__(self) -> ProcessSink:
        self.proc.start()
        self.port = self.conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.send("stop")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


def sample_message(i: int):  # type: ignore[no-untyped-def]
    on = date(2026, 2, 2)
    items = [
        ItemLine(ref=f"FKP-2026-{i:05d}-{k}", text="Menyusun dan mempublikasikan SOP pengaduan "
                 "yang jelas, termasuk layanan bagi penyandang disabilitas, di laman resmi.",
                 forum="FKP Dinas Sosial 2026", unit_name="Dinas Sosial", deadline=on
                 + timedelta(days=7 - 5 * k), tz="Asia/Makassar", status="in_progress",
                 progress=40, owner_name=f"Pemilik {i}", owner_email=f"owner{i}@example.go.id",
                 stage=f"before_7:{on}" if k == 0 else f"overdue_0:{on}",
                 days_left=7 - 5 * k, days_overdue=0,
                 update_url=f"https://tindak.example.go.id/o/token{i}")
        for k in range(3)
    ]
    return render_notice(NoticeMail(kind="reminder", on_date=on, recipient_name=f"Pemilik {i}",
                                    recipient_email=f"owner{i}@example.go.id", items=items,
                                    update_url=f"https://tindak.example.go.id/o/token{i}"))


def queue(n: int, tag: str) -> None:
    now = datetime.now(UTC)
    rendered = [sample_message(i) for i in range(min(n, 50))]
    rows = []
    for i in range(n):
        r = rendered[i % len(rendered)]
        rows.append(dict(key=f"bench-{tag}-{i}", kind="reminder", on_date=date(2026, 2, 2),
                         recipient=f"owner{i}@example.go.id", cc="", subject=r.subject,
                         body_text=r.text, body_html=r.html, message_id=new_message_id(),
                         attachments="[]", status="pending", attempts=0, created_at=now))
    with get_engine(writer=True).begin() as conn:
        insert_messages(conn, rows)


def load_rows() -> list:
    with get_engine().connect() as conn:
        return messages(conn, T.c.status == "pending")


def bare_loop(port: int, prepared: list) -> float:
    client = yagmail.SMTP(None, None, "127.0.0.1", port, smtp_ssl=False, smtp_starttls=False,
                          smtp_skip_login=True, soft_email_validation=False, timeout=30)
    client.set_logging(None)
    client.login()
    t0 = time.perf_counter()
    for p in prepared:
        client.smtp.sendmail(p.mail_from, p.rcpt_tos, p.data)
    elapsed = time.perf_counter() - t0
    client.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    ap.add_argument("--sink", choices=("process", "thread"), default="process",
                    help="the SMTP server in its own process (default) or in this one")
    args = ap.parse_args()

    if args.sink == "process":
        handler = sink_cm = ProcessSink()
    else:
        handler = CountingHandler()
        sink_cm = SmtpSink(handler=handler)
    with tempfile.TemporaryDirectory() as home, sink_cm as sink:
        env = {"TINDAK_HOME": home, "TINDAK_SMTP_HOST": "127.0.0.1",
               "TINDAK_SMTP_PORT": str(sink.port), "TINDAK_SMTP_SECURITY": "none",
               "TINDAK_MAIL_FROM": "Tindak <tindak@example.go.id>"}
        if args.database_url:
            env["TINDAK_DATABASE_URL"] = args.database_url
        os.environ.update(env)
        reset_settings()
        dispose_engines()
        s = get_settings()
        migrate()  # the schema step, as every entry point takes it

        queue(100, "warm")  # warm-up: connections, statement caches, the sink
        outbox.deliver()
        bare_loop(sink.port, [prepare(r, s.mail_from) for r in load_rows()])

        bare_times, deliver_times, sizes = [], [], []
        for r in range(args.rounds):
            queue(args.n, f"run{r}")
            prepared = [prepare(row, s.mail_from) for row in load_rows()]
            sizes += [len(p.data) for p in prepared]
            received = handler.count
            bare_times.append(bare_loop(sink.port, prepared))
            assert handler.count == received + args.n

            t0 = time.perf_counter()
            report = outbox.deliver()
            deliver_times.append(time.perf_counter() - t0)
            assert report.sent == args.n and not report.errors, report.summary()

        ratios = sorted(b / d for b, d in zip(bare_times, deliver_times, strict=True))
        result = {
            "bench": "delivery", "n": args.n, "rounds": args.rounds,
            "batch_size": s.batch_size,
            "database": "postgresql" if args.database_url else "sqlite",
            "bare_msgs_per_s": round(args.n / min(bare_times), 1),
            "deliver_msgs_per_s": round(args.n / min(deliver_times), 1),
            "ratio": round(ratios[len(ratios) // 2], 3),
            "ratio_total": round(sum(bare_times) / sum(deliver_times), 3),
            "ratios": [round(x, 3) for x in ratios],
            "bytes_per_msg": sum(sizes) // len(sizes), "sink": args.sink,
        }
        print(json.dumps(result))
        dispose_engines()


if __name__ == "__main__":  # the sink's process imports this module again
    main()
