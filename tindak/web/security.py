"""Who is asking and what they may do: the signed session, CSRF, rate limits, upload caps,
security headers. Sessions live in a signed cookie (Starlette's SessionMiddleware)."""

from __future__ import annotations

import hmac
import secrets
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Path as PathParam
from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models import Person, session
from tindak.directory import UnitTree, has_role
from tindak.errors import N_, Forbidden, InvalidInput, TindakError
from tindak.recs import EVIDENCE_MAX_BYTES

# An id in a path: the database's integer range, or the page does not exist (404), never
# an overflow inside the driver (500).
RowId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]

SESSION_COOKIE = "tindak_session"
SESSION_MAX_AGE = 12 * 3600  # one working day; sign in again tomorrow
# Multipart framing and the other fields around one maximal evidence file.
BODY_MAX_BYTES = EVIDENCE_MAX_BYTES + 512 * 1024
CHUNK = 64 * 1024


class SignInRequired(TindakError):
    """A page for signed-in planners and leaders was asked for without a session."""

    http_status = 401


class TooManyRequests(TindakError):
    http_status = 429


class BodyTooLarge(TindakError):
    http_status = 413


@dataclass(frozen=True)
class Viewer:
    """The signed-in person and the units they may see (their unit and everything below)."""

    id: int
    email: str
    name: str
    roles: frozenset[str]
    unit_id: int
    unit_name: str
    tree: frozenset[int]
    at_top: bool = False  # their unit has no parent: the top of an organisation

    @property
    def may_import(self) -> bool:
        """Only a planner of a top unit uploads import files (tindak.web.imports decides)."""
        return self.is_planner and self.at_top

    @property
    def is_planner(self) -> bool:
        return "planner" in self.roles

    @property
    def is_leader(self) -> bool:
        return "leader" in self.roles

    @property
    def is_staff(self) -> bool:
        """Planners and leaders see their unit tree's items; owners only their own."""
        return self.is_planner or self.is_leader


def load_viewer(person_id: int) -> Viewer | None:
    with session() as s:
        person = s.get(Person, person_id)
        if person is None:
            return None
        tree = UnitTree.load(s)
        roles = frozenset(r for r in ("planner", "owner", "leader") if has_role(person, r))
        return Viewer(person.id, person.email, person.name, roles,  # type: ignore[arg-type]
                      person.unit_id, tree.name.get(person.unit_id, ""),
                      frozenset(tree.subtree(person.unit_id)),
                      tree.parent.get(person.unit_id) is None)


def current_person(request: Request) -> Viewer | None:
    """The signed-in person, looked up once per request (None for visitors and owners' links)."""
    if "viewer" not in request.state._state:
        pid, at = request.session.get("pid"), request.session.get("at")
        # The cookie is re-signed whenever the session changes (a flash after each saved
        # form), so its signature's age says nothing: the sign-in time inside it does.
        fresh = isinstance(at, int) and 0 <= time.time() - at < SESSION_MAX_AGE
        request.state.viewer = load_viewer(pid) if isinstance(pid, int) and fresh else None
    return request.state.viewer  # type: ignore[no-any-return]


def require_viewer(request: Request) -> Viewer:
    viewer = current_person(request)
    if viewer is None:
        raise SignInRequired(N_("sign in to see this page"))
    return viewer


def require_staff(request: Request) -> Viewer:
    viewer = require_viewer(request)
    if not viewer.is_staff:
        raise Forbidden(N_("this page is for planners and leaders"))
    return viewer


def require_importer(request: Request) -> Viewer:
    viewer = require_planner(request)
    if not viewer.may_import:
        raise Forbidden(N_("only a planner of a top unit may import files: imports can "
                           "change units and people of the whole organisation"))
    return viewer


def require_planner(request: Request) -> Viewer:
    viewer = require_viewer(request)
    if not viewer.is_planner:
        raise Forbidden(N_("only a planner may do this"))
    return viewer


def sign_in(request: Request, person_id: int) -> None:
    """A fresh session for this person: a new CSRF token, nothing kept from before."""
    lang = request.session.get("lang")
    request.session.clear()
    request.session.update(pid=person_id, csrf=secrets.token_urlsafe(32),
                           at=int(time.time()))
    if lang:
        request.session["lang"] = lang
    request.state._state.pop("viewer", None)  # look the new person up on next use


def sign_out(request: Request) -> None:
    request.session.clear()


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use (visitors and owners get one too)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def checked_form(request: Request) -> FormData:
    """The POSTed form, refused (403) unless it carries this session's CSRF token."""
    form = await request.form(max_files=20, max_fields=200)
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    if not (isinstance(sent, str) and expected and hmac.compare_digest(sent, str(expected))):
        raise Forbidden(N_("the form has expired or did not come from this site: reload the page "
                        "and try again"))
    return form


def flash(request: Request, key: str, **params: str) -> None:
    """A one-time notice for the next page; base.html words each key in the reader's language."""
    request.session["flash"] = {"key": key, **params}


def pop_flash(request: Request) -> dict[str, str] | None:
    value = request.session.pop("flash", None) if "flash" in request.session else None
    return value if isinstance(value, dict) else None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class RateLimiter:
    """At most `limit` hits per key in a sliding `window` of seconds (one process's memory)."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count one hit; False when the key is over its limit (the hit is not counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 50_000:  # forget idle keys so memory stays bounded
                for k in [k for k, v in self._hits.items() if not v]:
                    del self._hits[k]
            return True


def text_field(form: FormData, name: str, max_len: int = 10_000) -> str:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return ""
    if len(value) > max_len:
        raise InvalidInput(N_("the field '%(name)s' is too long (at most %(max)s characters)"),
                           name=name, max=max_len)
    if "\x00" in value:  # never typed, and PostgreSQL refuses it in text
        raise InvalidInput(N_("the field '%(name)s' contains a NUL character"), name=name)
    return value.strip()


def upload_field(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value
    return None


# A program is refused whatever its name says: Windows (MZ), ELF, Mach-O (both byte orders
# and fat binaries) and scripts (#!); and whatever the browser declares as a program or as
# active content a browser would run.
PROGRAM_MAGIC = (b"MZ", b"\x7fELF", b"\xfe\xed\xfa", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                 b"\xca\xfe\xba\xbe", b"#!")
PROGRAM_TYPES = frozenset({
    "application/x-msdownload", "application/x-msdos-program", "application/x-dosexec",
    "application/vnd.microsoft.portable-executable", "application/x-msi",
    "application/x-executable", "application/x-sharedlib", "application/x-mach-binary",
    "application/x-sh", "application/x-shellscript", "text/x-shellscript",
    "application/javascript", "text/javascript", "text/html", "application/xhtml+xml",
    "image/svg+xml",
})


def spool_upload(upload: UploadFile, folder: Path, max_bytes: int,
                 allowed: set[str] | frozenset[str]) -> Path:
    """Copy an upload to `folder` in chunks, refusing a wrong type or more than max_bytes.

    The file keeps its own (sanitised) name so that messages can quote it.
    """
    name = Path((upload.filename or "upload").replace("\\", "/")).name
    name = "".join(c for c in name if c.isalnum() or c in "._- ")[:120].strip() or "upload"
    if Path(name).suffix.lower() not in allowed:
        raise InvalidInput(N_("file type '%(type)s' is not accepted (use one of: %(allowed)s)"),
                           type=Path(name).suffix or name, allowed=", ".join(sorted(allowed)))
    upload.file.seek(0)
    head = upload.file.read(8)
    if head.startswith(PROGRAM_MAGIC) or (upload.content_type or "").lower() in PROGRAM_TYPES:
        raise InvalidInput(N_("'%(name)s' is a program or a script, not a document: it is not "
                              "accepted"), name=name)
    folder.mkdir(parents=True, exist_ok=True)
    dest, n = folder / name, 1
    while dest.exists():  # two uploads of the same name keep both
        n += 1
        dest = folder / f"{Path(name).stem} ({n}){Path(name).suffix}"
    size = 0
    upload.file.seek(0)
    with dest.open("wb") as out:
        while chunk := upload.file.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                out.close()
                dest.unlink(missing_ok=True)
                raise InvalidInput(N_("the file is larger than %(mb)s MB"),
                                   mb=max_bytes // 2**20)
            out.write(chunk)
    return dest


def temp_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="tindak-upload-")


class BodyLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` (413) before they pile up, and
    addresses with a NUL character (400)."""

    def __init__(self, app: ASGIApp, max_bytes: int = BODY_MAX_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _refuse(send, 413, b"413: the upload is too large")
                return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            # Never meant, and PostgreSQL refuses NUL in text: refused before a route reads it.
            await _refuse(send, 400, b"400: a NUL character is not allowed in an address")
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(N_("the upload is larger than %(mb)s MB"),
                                       mb=self.max_bytes // 2**20)
            return message

        await self.app(scope, limited, send)


async def _refuse(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Referrer-Policy matters: owner links carry their token in the path.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
