"""ASGI middleware: the request body cap (and NUL in addresses), the security headers on
every response, no caching of private pages, and `?lang=` remembered in a cookie."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tindak.errors import N_, TindakError
from tindak.i18n import LANGUAGES
from tindak.recs import EVIDENCE_MAX_BYTES
from tindak.web.render import LANG_COOKIE

# Multipart framing and the other fields around one maximal evidence file.
BODY_MAX_BYTES = EVIDENCE_MAX_BYTES + 512 * 1024

# Referrer-Policy matters: owner links carry their token in the path.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

# Signed-in pages, sign-in links and "my page": never kept by a shared cache or a shared
# computer's browser after sign-out.
PRIVATE_PATHS = ("/kelola", "/pimpinan", "/masuk/", "/saya", "/langganan/", "/berhenti/",
                 "/tanggapan/")


class BodyTooLarge(TindakError):
    http_status = 413


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


class Headers:
    """ASGI middleware: security headers on every response; `?lang=` remembered in a cookie."""

    def __init__(self, app: ASGIApp, secure: bool):
        self.app, self.secure = app, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        lang = next((p[5:] for p in query.split("&") if p.startswith("lang=")), None)

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
                if scope["path"].startswith("/o/"):  # an owner's page: keep it out of caches
                    headers["Cache-Control"] = "no-store"
                elif scope["path"].startswith(PRIVATE_PATHS):  # names and emails: the same
                    headers.setdefault("Cache-Control", "no-store")
                if lang in LANGUAGES:
                    flags = "; Secure" if self.secure else ""
                    headers.append("Set-Cookie", f"{LANG_COOKIE}={lang}; Path=/; "
                                   f"Max-Age=31536000; HttpOnly; SameSite=Lax{flags}")
            await send(message)

        await self.app(scope, receive, wrapped)
