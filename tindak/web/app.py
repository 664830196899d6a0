"""The FastAPI app: its middleware (body cap, signed session, headers, language: see
tindak.web.middleware), the error pages that translate TindakError to HTTP statuses, and
the routers."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from tindak.errors import TindakError
from tindak.i18n import error_text
from tindak.settings import get_settings
from tindak.web.identity import SignInRequired
from tindak.web.middleware import BodyLimit, Headers
from tindak.web.ratelimit import RateLimiter
from tindak.web.render import language, page
from tindak.web.session import SESSION_COOKIE, SESSION_MAX_AGE

STATIC = Path(__file__).parent / "static"


def create_app() -> FastAPI:
    """The web app, configured from the settings (read now, once)."""
    from tindak.web.routes import auth, calendar, leader, owner, public, report, staff

    settings = get_settings()
    secure = (settings.base_url or "").startswith("https://")
    # No trailing-slash redirects: Starlette makes them absolute from the Host header, which
    # a forged request (or a cache keyed without it) turns into a redirect to another site.
    app = FastAPI(title="Tindak", docs_url=None, redoc_url=None, openapi_url=None,
                  redirect_slashes=False)
    app.state.login_per_ip = RateLimiter(limit=20, window=15 * 60)
    app.state.login_per_email = RateLimiter(limit=5, window=15 * 60)
    app.state.subscribe_per_ip = RateLimiter(limit=20, window=15 * 60)
    app.state.subscribe_per_email = RateLimiter(limit=3, window=15 * 60)

    for module in (public, auth, owner, calendar, report, staff, leader):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(SessionMiddleware, secret_key=settings.signing_key() + ":web-session",
                       session_cookie=SESSION_COOKIE, max_age=SESSION_MAX_AGE,
                       same_site="lax", https_only=secure)
    app.add_middleware(Headers, secure=secure)
    app.add_middleware(BodyLimit)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if request.method == "GET":
            return RedirectResponse(f"/masuk?next={quote(request.url.path)}", status_code=303)
        return page(request, "error.html", status_code=401,
                    message=error_text(exc, language(request)), status=401)

    @app.exception_handler(TindakError)
    async def _tindak_error(request: Request, exc: TindakError) -> Response:
        return page(request, "error.html", status_code=exc.http_status,
                    message=error_text(exc, language(request)), status=exc.http_status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return page(request, "error.html", status_code=exc.status_code,
                    message=str(exc.detail), status=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_path(request: Request, exc: RequestValidationError) -> Response:
        # Only path and query parameters are declared: a wrong one is a page that does not exist.
        return page(request, "error.html", status_code=404, message="Not Found", status=404)

    return app
