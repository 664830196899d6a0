"""Planners' pages (leaders read the same lists): recommendations with filters and export,
forums and their items by form, the import upload, the verification queue, evidence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from tindak import extensions, forums, recs
from tindak.errors import N_, Forbidden, ImportFailed, InvalidInput
from tindak.i18n import error_text, gettext_for
from tindak.web import views
from tindak.web.csrf import checked_form
from tindak.web.forms import RowId, text_field, text_fields
from tindak.web.identity import require_importer, require_planner, require_staff, require_viewer
from tindak.web.imports import IMPORT_MAX_BYTES, IMPORT_TYPES, run_import
from tindak.web.render import language, page
from tindak.web.session import flash
from tindak.web.uploads import spool_upload, temp_dir

router = APIRouter(prefix="/kelola")

FORUM_FIELDS = ("title", "held_on", "unit", "place", "minutes_ref")
REC_FIELDS = ("ref", "text", "unit", "category", "priority", "owner", "deadline", "public_note")


@router.get("")
def home(request: Request) -> Response:
    require_staff(request)
    return RedirectResponse("/kelola/rekomendasi", status_code=303)


@router.get("/rekomendasi", response_class=HTMLResponse)
def rec_list(request: Request, unit: str = "", status: str = "", overdue: str = "",
             owner: str = "", format: str = "", disputed: str = "") -> Response:
    viewer = require_staff(request)
    flt = recs.RecFilter(status=status or None, overdue=overdue == "1", owner=owner or None,
                         unit=unit or None)
    rows = views.staff_recs(viewer, flt, disputed=disputed == "1")
    if format == "csv":
        return Response(views.export_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="tindak.csv"'})
    if format == "xlsx":
        return Response(
            views.export_xlsx(rows),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": 'attachment; filename="tindak.xlsx"'})
    return page(request, "staff/recs.html", rows=rows, units=views.staff_units(viewer),
                flt={"unit": unit, "status": status, "overdue": overdue == "1",
                     "owner": owner, "disputed": disputed == "1"}, query=request.url.query)


def _rec_page(request: Request, rec_id: int, status_code: int = 200,
              errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
              error: str | None = None) -> HTMLResponse:
    viewer = require_staff(request)
    rec = views.rec_detail(rec_id, viewer)
    return page(request, "staff/rec.html", status_code=status_code, rec=rec,
                may_verify=views.may_verify(rec_id, viewer),
                units=views.staff_units(viewer), errors=errors or {},
                values=values or {}, error=error)


@router.get("/rekomendasi/{rec_id}", response_class=HTMLResponse)
def rec_page(request: Request, rec_id: RowId) -> Response:
    return _rec_page(request, rec_id)


def _save_form(request: Request, form: FormData, names: tuple[str, ...],
               save: Callable[[dict[str, str], str], Any],
               again: Callable[[dict[str, str], dict[str, str]], HTMLResponse],
               done: Callable[[Any], tuple[str, dict[str, str], str]]) -> Response:
    """A planner's form (the fields `names`) saved by `save(data, by)`. Refused fields show
    the page again by `again(errors, data)` (422, with what was typed); once saved, `done`
    of what `save` returned says the flash (key, params) and where to go."""
    viewer = require_planner(request)
    data = text_fields(form, names)
    try:
        saved = save(data, viewer.email)
    except forums.FormErrors as exc:
        return again(exc.fields, data)
    key, params, target = done(saved)
    flash(request, key, **params)
    return RedirectResponse(target, status_code=303)


@router.post("/rekomendasi/{rec_id}")
def rec_edit(request: Request, rec_id: RowId,
             form: FormData = Depends(checked_form)) -> Response:
    return _save_form(
        request, form, REC_FIELDS,
        save=lambda data, by: forums.edit_rec(rec_id, data, by=by),
        again=lambda errors, data: _rec_page(request, rec_id, 422, errors=errors, values=data),
        done=lambda _: ("saved", {}, f"/kelola/rekomendasi/{rec_id}"))


def _decide(request: Request, rec_id: int, form: FormData, yes: str,
            decide: Callable[[str, str, bool, str], dict[str, Any]], if_yes: str, if_no: str,
            target: str, error_kind: str = "verify") -> Response:
    """A planner's decision on an item of their tree: `decide(ref, by, said_yes, note)`,
    where the form's decision is `yes` or not. A refused one (a wrong decision, or one not
    theirs to make) shows the queue again with the error by the item."""
    viewer = require_planner(request)
    ref = views.ref_in_tree(rec_id, viewer)
    said_yes = text_field(form, "decision", 10) == yes
    try:
        res = decide(ref, viewer.email, said_yes, text_field(form, "note", 5000))
    except (InvalidInput, Forbidden) as exc:
        return _queue_page(request, exc.http_status, error=error_text(exc, language(request)),
                           error_item=rec_id, error_kind=error_kind)
    flash(request, if_yes if said_yes else if_no, ref=res["ref"])
    return RedirectResponse(target, status_code=303)


@router.post("/rekomendasi/{rec_id}/verifikasi")
def rec_verify(request: Request, rec_id: RowId,
               form: FormData = Depends(checked_form)) -> Response:
    return _decide(request, rec_id, form, "reject",
                   lambda ref, by, reject, note: recs.verify_rec(ref, by=by, reject=reject,
                                                                 note=note),
                   if_yes="rejected", if_no="verified", target="/kelola/verifikasi")


@router.post("/rekomendasi/{rec_id}/perpanjangan")
def rec_extension(request: Request, rec_id: RowId,
                  form: FormData = Depends(checked_form)) -> Response:
    """Approve or reject the extension request waiting on an item (extensions decides who
    may: a planner of the tree who neither asked nor owns it)."""
    return _decide(request, rec_id, form, "approve",
                   lambda ref, by, approve, note: extensions.decide_extension(
                       ref, by, approve=approve, note=note),
                   if_yes="extension_approved", if_no="extension_rejected",
                   target="/kelola/verifikasi#perpanjangan", error_kind="extension")


def _queue_page(request: Request, status_code: int = 200, error: str | None = None,
                error_item: int | None = None, error_kind: str = "verify") -> HTMLResponse:
    viewer = require_staff(request)
    rows, waiting = views.verification_queue(viewer)
    asked, asked_elsewhere = extensions.queue(viewer.email)
    return page(request, "staff/queue.html", status_code=status_code, rows=rows,
                waiting=waiting, asked=asked, asked_elsewhere=asked_elsewhere, error=error,
                error_item=error_item, error_kind=error_kind)


@router.get("/verifikasi", response_class=HTMLResponse)
def queue(request: Request) -> Response:
    return _queue_page(request)


@router.get("/bukti/{stored}")
def evidence(request: Request, stored: str) -> FileResponse:
    ev = views.evidence(stored, viewer=require_viewer(request))
    return FileResponse(ev.path, filename=ev.name, media_type=recs.evidence_mime(ev.name),
                        content_disposition_type="attachment")


@router.get("/forum", response_class=HTMLResponse)
def forum_list(request: Request) -> Response:
    viewer = require_staff(request)
    return page(request, "staff/forums.html", forums=views.staff_forums(viewer))


def _new_forum_page(request: Request, status_code: int = 200, errors: dict[str, str] | None = None,
                    values: dict[str, str] | None = None) -> HTMLResponse:
    viewer = require_planner(request)
    units = views.staff_units(viewer)
    return page(request, "staff/forum_new.html", status_code=status_code, units=units,
                errors=errors or {}, values=values or {"unit": units[0][0] if units else ""})


@router.get("/forum/baru", response_class=HTMLResponse)
def forum_new(request: Request) -> Response:
    return _new_forum_page(request)


@router.post("/forum/baru")
def forum_create(request: Request, form: FormData = Depends(checked_form)) -> Response:
    return _save_form(
        request, form, FORUM_FIELDS,
        save=lambda data, by: forums.create_forum(data, by=by),
        again=lambda errors, data: _new_forum_page(request, 422, errors, data),
        done=lambda forum_id: ("forum_created", {}, f"/kelola/forum/{forum_id}"))


def _forum_page(request: Request, forum_id: int, status_code: int = 200, refused: str = "",
                errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None) -> HTMLResponse:
    """The forum's page with its two forms; `refused` ("forum" or "rec") names the form
    shown again with its `errors` and what was typed (`values`)."""
    viewer = require_staff(request)
    forum = views.staff_forum(forum_id, viewer)
    defaults: dict[str, Any] = {k: forum[k] for k in FORUM_FIELDS}
    defaults["held_on"] = forum["held_on"].isoformat()
    forms: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
        "forum": ({}, defaults),
        "rec": ({}, {"unit": forum["unit"], "priority": "normal", "category": "lainnya"})}
    if refused:
        forms[refused] = (errors or {}, values or {})
    return page(request, "staff/forum.html", status_code=status_code, forum=forum,
                units=views.staff_units(viewer),
                forum_errors=forms["forum"][0], forum_values=forms["forum"][1],
                rec_errors=forms["rec"][0], rec_values=forms["rec"][1])


def _forum_form(request: Request, forum_id: int, form: FormData, which: str,
                save: Callable[[dict[str, str], str], Any],
                done: Callable[[Any], tuple[str, dict[str, str], str]]) -> Response:
    """One of the forum page's two forms (`which`: "forum" or "rec") saved by `save`."""
    return _save_form(
        request, form, FORUM_FIELDS if which == "forum" else REC_FIELDS, save=save,
        again=lambda errors, data: _forum_page(request, forum_id, 422, which, errors, data),
        done=done)


@router.get("/forum/{forum_id}", response_class=HTMLResponse)
def forum_page(request: Request, forum_id: RowId) -> Response:
    return _forum_page(request, forum_id)


@router.post("/forum/{forum_id}")
def forum_edit(request: Request, forum_id: RowId,
               form: FormData = Depends(checked_form)) -> Response:
    return _forum_form(request, forum_id, form, "forum",
                       lambda data, by: forums.update_forum(forum_id, data, by=by),
                       lambda _: ("saved", {}, f"/kelola/forum/{forum_id}"))


@router.post("/forum/{forum_id}/rekomendasi")
def rec_add(request: Request, forum_id: RowId,
            form: FormData = Depends(checked_form)) -> Response:
    return _forum_form(request, forum_id, form, "rec",
                       lambda data, by: forums.add_rec(forum_id, data, by=by),
                       lambda ref: ("rec_added", {"ref": ref}, f"/kelola/forum/{forum_id}#add"))


@router.get("/impor", response_class=HTMLResponse)
def import_form(request: Request) -> Response:
    require_importer(request)
    return page(request, "staff/import.html", errors=[], report=None, dry_run=False)


@router.post("/impor", response_class=HTMLResponse)
def import_upload(request: Request, form: FormData = Depends(checked_form)) -> Response:
    viewer = require_importer(request)
    dry_run = text_field(form, "dry_run", 5) == "1"
    uploads = [f for f in form.getlist("files") if not isinstance(f, str) and f.filename]
    if not uploads:
        raise InvalidInput(N_("choose at least one CSV or XLSX file"))
    with temp_dir() as tmp:
        paths = [spool_upload(u, Path(tmp), IMPORT_MAX_BYTES, IMPORT_TYPES) for u in uploads]
        try:
            report = run_import(paths, dry_run=dry_run, by=viewer.email)
        except ImportFailed as exc:
            return page(request, "staff/import.html", status_code=422, dry_run=dry_run,
                        errors=[line.replace(tmp + "/", "") for line in
                                exc.lines(gettext_for(language(request)), "web")],
                        report=None)
    return page(request, "staff/import.html", errors=[], report=report, dry_run=dry_run)
