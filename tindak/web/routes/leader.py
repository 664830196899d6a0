"""The leader's dashboard: the weekly digest's numbers and chart for their unit tree, live."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tindak.web import views
from tindak.web.identity import require_staff
from tindak.web.render import language, page

router = APIRouter(prefix="/pimpinan")


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    viewer = require_staff(request)
    return page(request, "leader.html", d=views.leader_digest(viewer))


@router.get("/grafik.png")
def chart(request: Request) -> Response:
    png = views.leader_chart(require_staff(request), language(request))
    if png is None:
        return Response(status_code=204)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})
