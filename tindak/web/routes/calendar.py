"""An owner's deadlines as a calendar feed, behind the same signed link as their page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tindak.ics import owner_feed
from tindak.links import read_owner_token
from tindak.web import views

router = APIRouter(prefix="/o")


@router.get("/{token}/kalender.ics")
def calendar_feed(request: Request, token: str) -> Response:
    owner = views.owner_of_token(*read_owner_token(token))
    page_url = str(request.url_for("owner_page", token=token))
    return Response(owner_feed(owner.id, owner.name, page_url),
                    media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": 'inline; filename="kalender.ics"'})
