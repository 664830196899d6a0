"""Public pages: every forum and how far its recommendations' follow-up has come; the
public's loop (SPEC §7): subscribe, confirm, unsubscribe, answer sesuai / belum sesuai."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from tindak import outbox, public_loop
from tindak.directory import normalize_email
from tindak.errors import N_
from tindak.web import signin, views
from tindak.web.csrf import checked_form
from tindak.web.forms import RowId, text_field
from tindak.web.ratelimit import within_limits
from tindak.web.render import language, page

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    return page(request, "index.html", forums=views.public_forums())


@router.get("/forum/{forum_id}", response_class=HTMLResponse)
def forum(request: Request, forum_id: RowId) -> HTMLResponse:
    return page(request, "forum.html", forum=views.public_forum(forum_id),
                tally=public_loop.tally(forum_id))


@router.get("/forum/{forum_id}/langganan", response_class=HTMLResponse)
def subscribe_form(request: Request, forum_id: RowId) -> HTMLResponse:
    # Its own page: the forum's page has no form, so it sets no cookie (CSRF needs one).
    return page(request, "public/subscribe.html", forum=public_loop.forum_title(forum_id))


@router.post("/forum/{forum_id}/langganan", response_class=HTMLResponse)
async def subscribe(request: Request, forum_id: RowId, background: BackgroundTasks,
                    form: FormData = Depends(checked_form)) -> Response:
    email = normalize_email(text_field(form, "email", 254))
    # Counted the same whether or not the address is subscribed: nobody learns who is.
    within_limits(request, request.app.state.subscribe_per_ip,
                  request.app.state.subscribe_per_email, email,
                  N_("too many subscription requests: wait a quarter of an hour and try again"))
    base = signin.link_base(str(request.base_url))
    queued = await run_in_threadpool(public_loop.request_subscription, email, forum_id, base,
                                     language(request))
    if queued is not None:
        background.add_task(outbox.send_soon, [queued])
    return page(request, "public/subscribe_sent.html", email=email, forum_id=forum_id)


@router.get("/langganan/{token}", response_class=HTMLResponse)
def subscribe_confirm(request: Request, token: str) -> Response:
    # A GET changes nothing: mail scanners open links before people do.
    return page(request, "public/subscribe_confirm.html", token=token,
                sub=public_loop.check_subscription(token))


@router.post("/langganan/{token}", response_class=HTMLResponse)
async def subscribe_use(request: Request, token: str,
                        form: FormData = Depends(checked_form)) -> Response:
    forum_id = await run_in_threadpool(public_loop.confirm_subscription, token)
    return page(request, "public/subscribed.html", forum_id=forum_id)


@router.get("/berhenti/{token}", response_class=HTMLResponse)
def unsubscribe_confirm(request: Request, token: str) -> Response:
    return page(request, "public/unsubscribe.html", token=token,
                sub=public_loop.check_unsubscribe(token))


@router.post("/berhenti/{token}", response_class=HTMLResponse)
async def unsubscribe_use(request: Request, token: str) -> Response:
    # No CSRF token: mail clients send RFC 8058's one-click POST themselves; the signed
    # link is the authority, and ending a subscription twice does nothing.
    await run_in_threadpool(public_loop.unsubscribe, token)
    return page(request, "public/unsubscribed.html")


@router.get("/tanggapan/{token}", response_class=HTMLResponse)
def answer_form(request: Request, token: str) -> Response:
    return page(request, "public/answer.html", token=token, a=public_loop.answer_page(token),
                saved=False)


@router.post("/tanggapan/{token}", response_class=HTMLResponse)
async def answer_save(request: Request, token: str,
                      form: FormData = Depends(checked_form)) -> Response:
    await run_in_threadpool(public_loop.record_answer, token, text_field(form, "verdict", 20),
                            text_field(form, "comment", public_loop.COMMENT_MAX))
    return page(request, "public/answer.html", token=token, a=public_loop.answer_page(token),
                saved=True)


@router.get("/healthz", response_class=PlainTextResponse)
def healthz() -> str:
    return "ok"
