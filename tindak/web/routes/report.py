"""The evaluator's report (SPEC §8) downloaded by planners and leaders, for their tree only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from tindak import report
from tindak.errors import InvalidInput, NotFound
from tindak.validators import parse_date
from tindak.web.identity import require_staff
from tindak.web.render import language

router = APIRouter(prefix="/kelola")
MEDIA = {"pdf": "application/pdf",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@router.get("/laporan.{fmt}")
async def download(request: Request, fmt: str, forum: str = "", unit: str = "",
                   start: str = "", end: str = "") -> Response:
    viewer = require_staff(request)
    if fmt not in MEDIA:
        raise NotFound("no such report format (pdf or xlsx)")
    if forum and not forum.isdigit():
        raise InvalidInput(f"forum must be a number, not '{forum[:20]}'")
    built = await run_in_threadpool(
        report.build_report, forum_id=int(forum) if forum else None, unit=unit or None,
        start=parse_date(start) if start else None, end=parse_date(end) if end else None,
        unit_ids=frozenset(viewer.tree), lang=language(request))
    render = report.render_pdf if fmt == "pdf" else report.render_xlsx
    data = await run_in_threadpool(render, built)
    return Response(data, media_type=MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="laporan-tindak-lanjut.{fmt}"'})
