"""Sign-in by a one-time link mailed to the person; sign-out; "my page"."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from tindak import outbox
from tindak.directory import normalize_email
from tindak.errors import N_
from tindak.links import owner_token
from tindak.web import signin
from tindak.web.csrf import checked_form
from tindak.web.forms import text_field
from tindak.web.identity import Viewer, current_person, require_viewer
from tindak.web.ratelimit import within_limits
from tindak.web.render import language, page
from tindak.web.session import sign_in, sign_out

router = APIRouter()


def home_of(viewer: Viewer | None) -> str:
    if viewer is None:
        return "/"
    if viewer.is_planner:
        return "/kelola"
    if viewer.is_leader:
        return "/pimpinan"
    return "/saya"


def _safe_next(target: str) -> str | None:
    """Only a path of this site may be a redirect target: never //host or a scheme, and no
    backslash or control character (browsers read "\\" as "/" and drop tabs and newlines)."""
    if (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and target.isprintable()):
        return target
    return None


@router.get("/masuk", response_class=HTMLResponse)
def signin_form(request: Request, next: str = "") -> Response:
    return page(request, "signin.html", next=_safe_next(next) or "")


@router.get("/login")
def login_alias() -> RedirectResponse:
    return RedirectResponse("/masuk", status_code=308)


@router.post("/masuk", response_class=HTMLResponse)
async def signin_request(request: Request, background: BackgroundTasks,
                         form: FormData = Depends(checked_form)) -> Response:
    email = normalize_email(text_field(form, "email", 254))
    # Refused the same way whether or not the email is known: nobody learns who has an account.
    within_limits(request, request.app.state.login_per_ip, request.app.state.login_per_email,
                  email, N_("too many sign-in requests: wait a quarter of an hour and try again"))
    base = signin.link_base(str(request.base_url))
    queued = await run_in_threadpool(signin.request_login, email, base, language(request))
    if queued is not None:
        # After the answer, not before: the page says the same whether the address is known.
        background.add_task(outbox.send_soon, [queued])
    return page(request, "signin_sent.html", email=email)


@router.get("/masuk/{token}", response_class=HTMLResponse)
def signin_confirm(request: Request, token: str) -> Response:
    # A GET never burns the link: mail scanners open links before people do.
    email = signin.check_login(token)
    return page(request, "signin_confirm.html", token=token, email=email,
                next=_safe_next(request.query_params.get("next", "")) or "")


@router.post("/masuk/{token}")
async def signin_use(request: Request, token: str,
                     form: FormData = Depends(checked_form)) -> Response:
    person_id = await run_in_threadpool(signin.consume_login, token)
    sign_in(request, person_id)
    target = _safe_next(text_field(form, "next", 500)) or home_of(current_person(request))
    return RedirectResponse(target, status_code=303)


@router.post("/keluar")
def signout(request: Request, form: FormData = Depends(checked_form)) -> Response:
    sign_out(request)
    return RedirectResponse("/", status_code=303)


@router.get("/saya")
def my_items(request: Request) -> Response:
    """A signed-in person's own items: their owner page, through a fresh owner link."""
    viewer = require_viewer(request)
    return RedirectResponse(f"/o/{owner_token(viewer.id, viewer.email)}", status_code=303)
