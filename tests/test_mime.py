"""The hand-built MIME bytes (`prepare`, kept for speed) and the plain EmailMessage reference
(`reference_message`) parse to the same message: headers, text, HTML and attachments, for
generated messages (non-ASCII names and subjects, long lines, cc lists, inline images)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tindak.outbox.mime import prepare, reference_message

WORDS = st.characters(whitelist_categories=("L", "N"), max_codepoint=0x30FF)
NAME = st.text(st.one_of(WORDS, st.sampled_from(" -'")), max_size=40)
LOCAL = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789._+-"), min_size=1,
                max_size=20).filter(lambda s: not s.startswith(".") and not s.endswith(".")
                                    and ".." not in s)
ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", LOCAL,
                    st.sampled_from(["example.go.id", "pemkot.example.go.id", "x.id"]))
# Any text a person or a template may write, line breaks and tabs included (no other
# control characters: templates do not make them).
CHARS = st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t ")
LINE = st.text(CHARS, max_size=120) | st.text(CHARS, min_size=200, max_size=600)


@st.composite
def mailbox(draw: st.DrawFn) -> str:
    name, addr = draw(NAME).strip(), draw(ADDRESS)
    return f"{name} <{addr}>" if name else addr


@st.composite
def body(draw: st.DrawFn) -> str:
    return "\n".join(draw(st.lists(LINE, min_size=1, max_size=8))) + "\n"


@st.composite
def inline(draw: st.DrawFn) -> dict:
    cid = draw(st.text(st.sampled_from("abcdef0123456789."), min_size=1, max_size=20))
    return {"cid": f"{cid}@tindak", "mime": draw(st.sampled_from(["image/png", "image/jpeg"])),
            "b64": base64.b64encode(draw(st.binary(max_size=600))).decode()}


@st.composite
def outbox_row(draw: st.DrawFn) -> SimpleNamespace:
    extra = draw(st.sampled_from([None, {"List-Unsubscribe": "<https://t.example/u/abc>",
                                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}]))
    return SimpleNamespace(
        id=draw(st.integers(1, 10**9)), recipient=draw(mailbox()),
        cc=", ".join(draw(st.lists(mailbox(), max_size=4))),
        subject=draw(st.text(CHARS, min_size=1, max_size=300)),
        body_text=draw(body()), body_html=draw(body()),
        message_id=f"<{draw(st.integers(1, 10**12))}.{draw(LOCAL)}@example.go.id>",
        attachments=json.dumps(draw(st.lists(inline(), max_size=2,
                                             unique_by=lambda a: a["cid"]))),
        headers=json.dumps(extra) if extra else None,
        created_at=draw(st.datetimes(min_value=datetime(2000, 1, 1),
                                     max_value=datetime(2100, 1, 1), timezones=st.just(UTC))))


def parsed(data: bytes) -> EmailMessage:
    return message_from_bytes(data.replace(b"\r\n", b"\n"), policy=policy.default)


def what_it_says(msg: EmailMessage) -> dict:
    """Everything a reader sees of a message, decoded."""
    out: dict = {"parts": [p.get_content_type() for p in msg.walk()],
                 "defects": [d for p in msg.walk() for d in p.defects]}
    for name in ("From", "To", "Cc"):
        out[name] = [(a.display_name, a.addr_spec) for a in msg[name].addresses] if msg[
            name] else None
    for name in ("Subject", "Date", "Message-ID", "Auto-Submitted", "X-Auto-Response-Suppress",
                 "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version"):
        out[name] = str(msg[name]) if msg[name] is not None else None
    for kind in ("plain", "html"):
        out[kind] = msg.get_body((kind,)).get_content().replace("\r\n", "\n")
    out["attachments"] = [(str(p["Content-ID"]), p.get_content_type(),
                           p.get_content_disposition(), p.get_payload(decode=True))
                          for p in msg.walk() if p.get_content_maintype() == "image"]
    return out


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(outbox_row())
def test_the_fast_bytes_and_the_reference_say_the_same(home, row):
    p = prepare(row)
    fast = what_it_says(parsed(p.data))
    assert fast == what_it_says(parsed(reference_message(row).as_bytes()))
    assert fast["defects"] == []
    assert fast["Subject"] == " ".join(row.subject.split())
    assert fast["plain"] == row.body_text and fast["html"] == row.body_html
    assert all(len(line) <= 998 for line in p.data.split(b"\r\n"))  # RFC 5322 §2.1.1
    assert p.data.isascii()


def test_a_fixed_message_with_everything(home):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()
    row = SimpleNamespace(
        id=7, recipient="Ṡiti Nurhaliza <siti@example.go.id>",
        cc="Budi <budi@example.go.id>, Made Wirawan <made@example.go.id>, budi@example.go.id",
        subject="[Tindak] 3 rekomendasi terlambat: Dinas Pekerjaan Umum dan Penataan Ruang "
                "Kabupaten — tindak lanjut “hasil” musrenbang 2026 ✓",
        body_text="Yth. Ṡiti,\n" + "kata " * 100 + "\n", body_html="<p>Yth. <b>Ṡiti</b></p>\n",
        message_id="<7.abc@example.go.id>",
        attachments=json.dumps([{"cid": "chart.1@tindak", "mime": "image/png", "b64": png}]),
        headers=None, created_at=datetime(2026, 2, 2, 0, 30, tzinfo=UTC))
    fast = what_it_says(parsed(prepare(row).data))
    assert fast == what_it_says(parsed(reference_message(row).as_bytes()))
    assert fast["parts"] == ["multipart/alternative", "text/plain", "multipart/related",
                             "text/html", "image/png"]
    assert fast["To"] == [("Ṡiti Nurhaliza", "siti@example.go.id")]
    assert [a for _, a in fast["Cc"]] == ["budi@example.go.id", "made@example.go.id",
                                          "budi@example.go.id"]
    assert prepare(row).rcpt_tos == ["siti@example.go.id", "budi@example.go.id",
                                     "made@example.go.id"]
