"""Web fixtures: an ASGI test client on a real database, signed-in clients, a live server."""

from __future__ import annotations

import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from models import Person

with warnings.catch_warnings():
    # Starlette asks for httpx2 and warns on httpx; both drive the app the same way here.
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


class WebClient(TestClient):
    """A test client that knows how to sign in and to post forms with the CSRF token."""

    def csrf(self, path: str = "/masuk") -> str:
        match = CSRF_RE.search(self.get(path).text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post_form(self, url: str, data: dict[str, str] | None = None,
                  files: dict | list | None = None, csrf_from: str = "/masuk", **kw):  # type: ignore[no-untyped-def]
        body = {"csrf": self.csrf(csrf_from), **(data or {})}
        return self.post(url, data=body, files=files, follow_redirects=False, **kw)

    def sign_in(self, person: Person) -> WebClient:
        from tindak.web.signin import login_url

        url = login_url(person.email, "http://testserver")
        path = url.removeprefix("http://testserver")
        res = self.post_form(path, csrf_from=path)
        assert res.status_code == 303, res.text
        return self


@pytest.fixture
def client(home: Path) -> Iterator[WebClient]:
    """An anonymous visitor of a fresh app on this test's database."""
    from tindak.web import create_app

    with WebClient(create_app(), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def client_for(home: Path):  # type: ignore[no-untyped-def]
    """client_for(person): a separate client signed in as that person."""
    from tindak.web import create_app

    made: list[WebClient] = []

    def make(person: Person) -> WebClient:
        c = WebClient(create_app(), base_url="http://testserver")
        c.__enter__()
        made.append(c)
        return c.sign_in(person)

    yield make
    for c in made:
        c.__exit__(None, None, None)


@dataclass
class LiveServer:
    url: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(home: Path, settings_env) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The app served by uvicorn on 127.0.0.1 in a thread; TINDAK_BASE_URL points to it."""
    import uvicorn

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings_env(BASE_URL=url)
    from tindak.web import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    yield LiveServer(url)
    server.should_exit = True
    thread.join(timeout=10)


FAR = date(2030, 6, 28)  # a deadline no test run will reach


@dataclass
class Org:
    """ROOT with two children A and B; a planner and an owner in each; a leader at ROOT."""

    root: Any
    a: Any
    b: Any
    admin: Person  # planner of ROOT (the whole tree)
    planner_a: Person
    planner_b: Person
    leader: Person
    owner_a: Person
    owner_b: Person
    forum_a: Any
    forum_b: Any
    rec_a: Any
    rec_b: Any


@pytest.fixture
def org(make) -> Org:  # type: ignore[no-untyped-def]
    root = make.unit(code="PEMKAB", name="Pemerintah Kabupaten")
    a = make.unit(code="DINSOS", name="Dinas Sosial", parent=root)
    b = make.unit(code="DUKCAPIL", name="Dinas Kependudukan", parent=root,
                  timezone="Asia/Makassar")
    admin = make.person(email="admin@pemkab.go.id", unit=root, roles="planner",
                        name="Admin Kabupaten")
    planner_a = make.person(email="perencana@dinsos.go.id", unit=a, roles="planner",
                            name="Perencana Dinsos")
    planner_b = make.person(email="perencana@dukcapil.go.id", unit=b, roles="planner",
                            name="Perencana Dukcapil")
    leader = make.person(email="bupati@pemkab.go.id", unit=root, roles="leader",
                         name="Pimpinan Kabupaten")
    owner_a = make.person(email="pic@dinsos.go.id", unit=a, name="Siti Aminah")
    owner_b = make.person(email="pic@dukcapil.go.id", unit=b, name="Budi Santoso")
    forum_a = make.forum(unit=a, title="FKP Dinas Sosial 2026")
    forum_b = make.forum(unit=b, title="FKP Dukcapil 2026")
    rec_a = make.rec(owner=owner_a, forum=forum_a, ref="DINSOS-01", deadline=FAR,
                     text="Perjelas prosedur layanan bantuan sosial")
    rec_b = make.rec(owner=owner_b, forum=forum_b, ref="DUKCAPIL-01", deadline=FAR,
                     text="Buka loket khusus penyandang disabilitas")
    return Org(root, a, b, admin, planner_a, planner_b, leader, owner_a, owner_b,
               forum_a, forum_b, rec_a, rec_b)
