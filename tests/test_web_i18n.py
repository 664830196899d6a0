"""The web's words: every msgid of its templates and modules has Indonesian in the shared
catalog, and a page reads Indonesian by default, English by switch."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from tindak import i18n

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "templates" / "web", ROOT / "tindak" / "web", ROOT / "tindak" / "forums.py"]


def test_every_web_msgid_has_an_indonesian_translation():
    with (ROOT / "tindak" / "locale" / "id" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        cat = read_po(fh, locale="id")
    found = i18n.extract_msgids(SOURCES)
    assert len(found) > 100
    missing = []
    for msgid, where in found.items():
        msg = cat.get(msgid if isinstance(msgid, str) else msgid[0])
        strings = [] if msg is None else (
            list(msg.string) if isinstance(msg.string, tuple) else [msg.string])
        if not strings or not all(s.strip() for s in strings):
            missing.append(f"{where[0]}: {msgid!r}")
    assert missing == []


def test_form_errors_read_in_the_readers_language(org, client_for):
    c = client_for(org.planner_a)
    res = c.post_form("/kelola/forum/baru", {"title": "", "held_on": "x", "unit": "DINSOS"},
                      csrf_from="/kelola/forum/baru")
    assert res.status_code == 422 and "Wajib diisi." in res.text
    assert "Bukan tanggal" in res.text and 'lang="id"' in res.text
    c.get("/?lang=en")
    res = c.post_form("/kelola/forum/baru", {"title": "", "held_on": "x", "unit": "DINSOS"},
                      csrf_from="/kelola/forum/baru")
    assert "Required." in res.text and "Wajib diisi." not in res.text


def test_the_sign_in_mail_follows_the_readers_language(org, client):
    import sqlalchemy as sa

    from models import Outbox, session

    client.post_form("/masuk", {"email": org.admin.email})
    client.get("/?lang=en")
    client.post_form("/masuk", {"email": org.leader.email})
    with session() as s:
        rows = dict(s.execute(sa.select(Outbox.recipient, Outbox.subject)).all())
    assert rows == {org.admin.email: "Tautan masuk Tindak Anda",
                    org.leader.email: "Your Tindak sign-in link"}
