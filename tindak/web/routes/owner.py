"""An owner's page behind the signed link of their reminder mail: their items only, no
password. The token in the path is the only thing that says who they are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from tindak import extensions, recs
from tindak.errors import Forbidden, InvalidInput, TindakError
from tindak.i18n import error_text
from tindak.links import read_owner_token
from tindak.web import views
from tindak.web.csrf import checked_form
from tindak.web.forms import RowId, text_field
from tindak.web.render import language, page
from tindak.web.reports import report_from_form
from tindak.web.session import flash

router = APIRouter(prefix="/o")


def _owner(token: str) -> views.OwnerRef:
    return views.owner_of_token(*read_owner_token(token))


def _owner_page(request: Request, token: str, owner: views.OwnerRef, status_code: int = 200,
                error: str | None = None, error_item: int | None = None,
                error_kind: str = "report") -> HTMLResponse:
    return page(request, "owner.html", status_code=status_code, token=token, owner=owner,
                items=views.owner_items(owner), error=error, error_item=error_item,
                error_kind=error_kind, evidence_base=f"/o/{token}/bukti/")


@router.get("/{token}", response_class=HTMLResponse)
def owner_page(request: Request, token: str) -> Response:
    return _owner_page(request, token, _owner(token))


async def _on_own_item(request: Request, token: str, rec_id: int,
                       act: Callable[[str, views.OwnerRef], Awaitable[tuple[str, dict[str, str]]]],
                       refused: tuple[type[TindakError], ...], error_kind: str) -> Response:
    """What an owner does on one of their own items: `act(ref, owner)` gives the flash (key,
    params); a refused one (`refused`) shows their page again with the error by the item."""
    owner = await run_in_threadpool(_owner, token)
    ref = await run_in_threadpool(views.rec_owned_by, rec_id, owner.id)
    try:
        key, params = await act(ref, owner)
    except refused as exc:
        return await run_in_threadpool(_owner_page, request, token, owner,
                                       exc.http_status, error_text(exc, language(request)),
                                       rec_id, error_kind)
    flash(request, key, **params)
    return RedirectResponse(f"/o/{token}#r{rec_id}", status_code=303)


@router.post("/{token}/r/{rec_id}")
async def report(request: Request, token: str, rec_id: RowId,
                 form: FormData = Depends(checked_form)) -> Response:
    async def act(ref: str, owner: views.OwnerRef) -> tuple[str, dict[str, str]]:
        res = await run_in_threadpool(report_from_form, ref, owner.email, form)
        return "reported", {"ref": res["ref"], "status": res["status"]}

    return await _on_own_item(request, token, rec_id, act, (InvalidInput,), "report")


@router.post("/{token}/perpanjangan/{rec_id}")
async def ask_extension(request: Request, token: str, rec_id: RowId,
                        form: FormData = Depends(checked_form)) -> Response:
    """The owner asks for a later deadline, with a reason; a planner decides (SPEC §7)."""
    async def act(ref: str, owner: views.OwnerRef) -> tuple[str, dict[str, str]]:
        until = extensions.parse_until(text_field(form, "until", 20))
        res = await run_in_threadpool(extensions.request_extension, ref, until,
                                      text_field(form, "reason", 2000), owner.email)
        return "extension_asked", {"ref": res["ref"], "until": res["extension"]["until"]}

    return await _on_own_item(request, token, rec_id, act, (InvalidInput, Forbidden),
                              "extension")


@router.get("/{token}/bukti/{stored}")
def evidence(token: str, stored: str) -> FileResponse:
    ev = views.evidence(stored, owner_id=_owner(token).id)
    return FileResponse(ev.path, filename=ev.name, media_type=recs.evidence_mime(ev.name),
                        content_disposition_type="attachment")
