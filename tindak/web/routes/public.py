"""Public pages: every forum and how far its recommendations' follow-up has come."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from tindak.web import views
from tindak.web.render import page
from tindak.web.security import RowId

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    return page(request, "index.html", forums=views.public_forums())


@router.get("/forum/{forum_id}", response_class=HTMLResponse)
def forum(request: Request, forum_id: RowId) -> HTMLResponse:
    return page(request, "forum.html", forum=views.public_forum(forum_id))


@router.get("/healthz", response_class=PlainTextResponse)
def healthz() -> str:
    return "ok"
