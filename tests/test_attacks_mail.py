"""Attacks through mail: script, template and bidi payloads in every text that reaches a
reminder, an escalation, a digest or a sign-in mail; CR/LF in names, units, titles and
refs that would forge headers; hostile addresses at import and in the database. Messages
are read as a mail client reads them: the built MIME, parsed, and what a real SMTP server
received."""

from __future__ import annotations

import re
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from models import Outbox, Person, messages, session
from tests.hostile import ATTACK, Page, evil
from tests.plugins.factories import change
from tindak import digest, followup, mail, outbox
from tindak.errors import ImportFailed
from tindak.importer import import_files
from tindak.mailmodel import DigestMail, ItemLine, NoticeMail, UnitCount

DEADLINE = date(2026, 2, 20)
RUN_DAY = date(2026, 3, 4)  # 12 days late: an overdue reminder and an escalation
MONDAY = date(2026, 3, 9)
BASE = "https://tindak.example.go.id"
HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
           "X-Auto-Response-Suppress", "MIME-Version", "Content-Type"}


_evil = evil


class _Html(Page):
    """Mail HTML: its text with whitespace folded (table layouts break lines anywhere)."""

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.chunks).split())


def assert_inert_html(html_text: str, what: str) -> _Html:
    """No tag, handler or script URL from the data: only the template's own markup."""
    page = _Html(html_text)
    for tag, attrs in page.tags:
        assert tag not in ("script", "iframe", "object", "embed", "svg", "base", "form"), what
        assert tag != "img" or (attrs.get("src") or "").startswith("cid:"), (what, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (what, tag, name)
            if name in ("href", "src", "action") and value:
                scheme = urlsplit(re.sub(r"[\x00-\x20]", "", value)).scheme.lower()
                assert scheme in ("http", "https", "cid", "mailto"), (what, tag, value)
                if scheme in ("http", "https"):
                    assert value.startswith(BASE + "/"), (what, value)
    return page


def assert_plain_headers(msg: EmailMessage, row: Outbox) -> None:
    """Exactly the headers Tindak writes, each once; one To, the row's recipient; no Bcc."""
    names = list(msg.keys())
    expected = HEADERS | ({"Cc"} if row.cc else set())
    assert set(names) == expected and len(names) == len(expected), names
    assert msg["Bcc"] is None
    assert [a.addr_spec for a in msg["To"].addresses] == [row.recipient]
    if row.cc:
        assert [a.addr_spec for a in msg["Cc"].addresses] == row.cc.split(",")
    assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])
    assert all(not part.defects for part in msg.walk()), [p.defects for p in msg.walk()]


def _rows(kind: str | None = None) -> list:
    with session() as s:
        return messages(s, *([Outbox.kind == kind] if kind else []))


def _plant(make, names: dict[str, str], ref: str = "R-1") -> dict[str, Person]:  # type: ignore[no-untyped-def]
    """A unit tree, a leader, a supervisor, an owner and one item 12 days overdue on
    RUN_DAY, every text taken from `names`."""
    from models import Forum

    root = make.unit(code="ROOT", name=names["unit"])
    sub = make.unit(code="SUB", name=names["subunit"], parent=root)
    leader = make.person(email="leader@x.go.id", unit=root, roles="leader",
                         name=names["leader"])
    boss = make.person(email="boss@x.go.id", unit=sub, name=names["supervisor"])
    owner = make.person(email="owner@x.go.id", unit=sub, name=names["owner"], supervisor=boss)
    forum = make.forum(unit=sub, title=names["title"], held_on=date(2026, 1, 12))
    with session() as s:
        row = s.get(Forum, forum.id)
        row.place, row.minutes_ref = names["title"], names["title"]
        s.add(row)
        s.commit()
    make.rec(owner=owner, forum=forum, ref=ref, text=names["text"], deadline=DEADLINE)
    return {"leader": leader, "boss": boss, "owner": owner}


def _all_mail(people: dict[str, Person]) -> list[Outbox]:
    """Run the day's follow-up and the Monday digest, and ask for a sign-in link: every kind."""
    from tindak.web.signin import request_login

    followup.run_daily(as_of=RUN_DAY, deliver=False)
    digest.plan_digests(MONDAY, [people["leader"].id])
    assert request_login(people["owner"].email, BASE, "id")
    rows = _rows()
    assert sorted({r.kind for r in rows}) == ["digest", "escalation", "login", "reminder"]
    return rows


# ---------------------------------------------------------------- payloads in every mail


def test_payloads_in_every_text_are_escaped_in_html_and_plain_in_text(make, settings_env):
    settings_env(BASE_URL=BASE)
    names = {k: _evil(k) for k in ("unit", "subunit", "leader", "supervisor", "owner",
                                   "title", "text")}
    people = _plant(make, names, ref="[ref]<script>alert(1)</script>{{7*7}}")
    shown = {  # the texts each kind of message shows its reader
        "reminder": ["owner", "title", "subunit", "text"],
        "escalation": ["supervisor", "owner", "title", "subunit", "text"],
        "digest": ["leader", "unit", "owner", "text"],
        "login": [],
    }
    for row in _all_mail(people):
        msg = outbox.build_message(row)
        assert_plain_headers(msg, row)
        html_part = msg.get_body(("html",)).get_content()
        text_part = msg.get_body(("plain",)).get_content()
        page = assert_inert_html(html_part, row.kind)
        for field in shown[row.kind]:
            want = mail.one_line(names[field])  # whitespace folded, bidi controls gone
            assert want in page.text, f"{row.kind}: {field} not shown as text"
            assert want in " ".join(text_part.split()), f"{row.kind} text part: {field}"
        assert "<script" not in html_part and "<img src=x" not in html_part
        assert msg.get_body(("plain",))["Content-Type"].startswith("text/plain")
        for url in re.findall(r"https?://\S+", text_part):
            assert url.startswith(BASE + "/"), (row.kind, url)


def test_the_sign_in_mail_carries_only_its_link(make, settings_env, org):
    from tindak.web.signin import request_login

    change(org.admin, name=_evil("planner"))
    assert request_login(org.admin.email, BASE, "en")
    [row] = _rows("login")
    msg = outbox.build_message(row)
    assert_plain_headers(msg, row)
    page = assert_inert_html(msg.get_body(("html",)).get_content(), "login")
    assert [a["href"] for t, a in page.tags if t == "a"] == [
        re.search(r"https://\S+", row.body_text)[0]]
    assert "[planner]" not in row.body_html and "[planner]" not in row.body_text


def test_very_long_texts_make_sound_messages(make, settings_env):
    settings_env(BASE_URL=BASE)
    long = {k: ("Perbaikan layanan " * 400)[: 5000 if k == "text" else 190]
            for k in ("unit", "subunit", "leader", "supervisor", "owner", "title", "text")}
    people = _plant(make, long)
    for row in _all_mail(people):
        msg = outbox.build_message(row)
        assert_plain_headers(msg, row)
        assert len(str(msg["Subject"])) < 1000
        raw = outbox.prepare(row).data
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998  # RFC 5322 line limit
        text = msg.get_body(("plain",)).get_content()
        assert len(text) < 20_000  # long texts are shortened
        assert row.kind == "login" or "Perbaikan layanan" in text


def test_render_functions_never_evaluate_or_link_data():
    item = ItemLine(ref="{{7*7}}", text=ATTACK, forum="{% if 1 %}x{% endif %}",
                    unit_name="\u202eDINAS", deadline=DEADLINE, tz="Asia/Jakarta",
                    status="<b>open</b>", progress=40, owner_name="{{ config }}",
                    owner_email="a@x.go.id", stage=f"overdue_0:{DEADLINE}", days_left=-3,
                    days_overdue=3, update_url="javascript:alert(1)")
    notice = mail.render_notice(NoticeMail(
        kind="reminder", on_date=RUN_DAY, recipient_name="{{7*7}}", recipient_email="a@x.go.id",
        items=[item], update_url="data:text/html,<script>alert(1)</script>"))
    d = mail.render_digest(DigestMail(
        leader_name="{{7*7}}", leader_email="l@x.go.id", unit_name=ATTACK,
        week_start=date(2026, 3, 2), week_end=date(2026, 3, 8), counts={"open": 1}, total=1,
        completion_rate=0.0, overdue_count=1, overdue=[item], escalations=[item],
        completions=[], at_risk=[item], per_unit=[UnitCount(ATTACK, {"open": 1})],
        dashboard_url="javascript:alert(1)"))
    for rendered in (notice, d):
        for part in (rendered.html, rendered.text):
            assert "{{7*7}}" in part  # as typed, never evaluated
            assert "javascript:" not in part and "data:text/html" not in part
        page = assert_inert_html(rendered.html, rendered.subject)
        assert "{{7*7}}" in page.text and "<b>open</b>" not in rendered.html
        assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert "{% if 1 %}x{% endif %}" in notice.text


# ---------------------------------------------------------------- header injection

CRLF_NAMES = {
    "unit": "Dinas\r\nBcc: evil@evil.example",
    "subunit": "UPT\nX-Injected: 1",
    "leader": "Pimpinan\r\nTo: evil@evil.example",
    "supervisor": "Atasan\rCc: evil@evil.example",
    "owner": "Budi\u2028Bcc: evil@evil.example\x85Reply-To: evil@evil.example",
    "title": "FKP\r\n\r\n<html>body injected",
    "text": "Perbaiki\r\nBcc: evil@evil.example\r\n\r\nteks",
}


def test_line_breaks_in_names_units_titles_and_refs_forge_no_header(make, settings_env,
                                                                     smtp_settings):
    settings_env(BASE_URL=BASE)
    people = _plant(make, CRLF_NAMES, ref="R-1\r\nBcc: evil@evil.example")
    rows = _all_mail(people)
    for row in rows:
        msg = outbox.build_message(row)
        assert_plain_headers(msg, row)
        assert "evil" not in str(msg["To"]) + str(msg["Cc"] or "") + str(msg["From"])
    report = outbox.deliver()
    assert report.sent == len(rows), report
    for got in smtp_settings.received:
        assert not any("evil" in r for r in got.rcpt_tos), got.rcpt_tos
        parsed = message_from_bytes(got.data, policy=policy.default)
        assert parsed["Bcc"] is None and parsed["X-Injected"] is None
        assert parsed["Reply-To"] is None and len(parsed.get_all("To")) == 1
    assert len(smtp_settings.received) == len(rows)


def test_an_address_with_a_line_break_in_the_database_is_never_sent(make, smtp_settings):
    unit = make.unit()
    owner = make.person(email="owner@x.go.id\r\nBcc: evil@evil.example", unit=unit)
    make.rec(owner=owner, unit=unit, deadline=DEADLINE)
    followup.run_daily(as_of=RUN_DAY, deliver=False)
    report = outbox.deliver()
    assert report.sent == 0 and smtp_settings.received == []
    assert {r.status for r in _rows()} == {"dead"}


PEOPLE = "email,name,unit,role,supervisor\n"


@pytest.mark.parametrize("row", [
    '"owner@x.go.id\r\nBcc: evil@evil.example",Budi,ROOT,owner,',
    '"owner@x.go.id\nBcc: evil@evil.example",Budi,ROOT,owner,',
    '"owner@x.go.id\rX: 1",Budi,ROOT,owner,',
    'owner@x.go.id,Budi,ROOT,owner,"boss@x.go.id\r\nBcc: evil@evil.example"',
    '"Budi <owner@x.go.id>",Budi,ROOT,owner,',
    '"owner@x.go.id, evil@evil.example",Budi,ROOT,owner,',
])
def test_an_email_address_with_a_line_break_or_a_list_is_refused_at_import(home, tmp_path,
                                                                           row):
    units = tmp_path / "units.csv"
    units.write_text("code,name,parent,timezone\nROOT,Pemkot,,WIB\n", encoding="utf-8")
    people = tmp_path / "people.csv"
    people.write_bytes((PEOPLE + "boss@x.go.id,Atasan,ROOT,owner,\n" + row + "\n")
                       .encode("utf-8"))
    with pytest.raises(ImportFailed) as err:
        import_files([units, people])
    assert any("people.csv:3" in line for line in err.value.errors), err.value.errors
    with session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Person)).scalar() == 0


def test_a_name_with_line_breaks_from_an_import_forges_no_header(home, tmp_path, settings_env):
    settings_env(BASE_URL=BASE)
    (tmp_path / "units.csv").write_text("code,name,parent,timezone\n"
                                        '"ROOT","Pemkot\r\nBcc: evil@evil.example",,WIB\n',
                                        encoding="utf-8")
    (tmp_path / "people.csv").write_text(
        PEOPLE + "boss@x.go.id,\"Atasan\r\nBcc: evil@evil.example\",ROOT,owner,\n"
        "owner@x.go.id,\"Budi\r\nTo: evil@evil.example\",ROOT,owner,boss@x.go.id\n",
        encoding="utf-8")
    (tmp_path / "recs.csv").write_text(
        "ref,forum,forum_date,unit,text,category,owner,deadline,priority\n"
        "R-1,\"FKP\r\nBcc: evil@evil.example\",2026-01-12,ROOT,\"Teks\r\nX: y\",sarana,"
        "owner@x.go.id,2026-02-20,high\n", encoding="utf-8")
    import_files([tmp_path / "units.csv", tmp_path / "people.csv", tmp_path / "recs.csv"])
    followup.run_daily(as_of=RUN_DAY, deliver=False)
    rows = _rows()
    assert {r.kind for r in rows} == {"reminder", "escalation"}
    for row in rows:
        assert_plain_headers(outbox.build_message(row), row)


def test_a_nul_in_an_imported_text_is_refused_with_the_row(home, tmp_path):
    units = tmp_path / "units.csv"
    units.write_bytes(b"code,name,parent,timezone\nROOT,Pem\x00kot,,WIB\n")
    with pytest.raises(ImportFailed) as err:
        import_files([units])
    assert any("units.csv:2: name" in line for line in err.value.errors), err.value.errors


def test_eml_fallback_names_come_from_no_header_text(make, settings_env, home):
    """Without SMTP the messages go to .eml files: no name taken from the data escapes
    TINDAK_HOME/outbox."""
    settings_env(BASE_URL=BASE)
    people = _plant(make, {**CRLF_NAMES, "owner": "../../../etc/passwd"}, ref="../../x")
    _all_mail(people)
    outbox.deliver()
    files = [p for p in home.rglob("*.eml")]
    assert files and all(Path(home / "outbox") in p.parents for p in files)


def test_a_right_to_left_override_cannot_reverse_a_subject(make, settings_env):
    names = {k: f"{k} \u202eAWAS" for k in ("unit", "subunit", "leader", "supervisor",
                                             "owner", "title", "text")}
    _all_mail(_plant(make, names))
    for row in _rows():
        assert not re.search("[\u202a-\u202e\u2066-\u2069]", row.subject), row.subject
