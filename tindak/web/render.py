"""Page rendering: one Jinja environment (autoescape, StrictUndefined) on templates/web/,
translated per render by the shared catalogs (tindak.i18n) from the page's `lang`."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from models import CATEGORIES
from tindak.i18n import N_, install_jinja, normalize_lang
from tindak.settings import get_settings

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "web"
LANG_COOKIE = "tindak_lang"

# Category labels (SPEC §2: codes in data, Indonesian labels in the UI via the catalog).
CATEGORY_MSGIDS = {
    "persyaratan": N_("Requirements"),
    "prosedur": N_("Procedure"),
    "jangka_waktu": N_("Service time"),
    "biaya": N_("Cost or fee"),
    "produk": N_("Service product"),
    "pengaduan": N_("Complaint handling"),
    "dasar_hukum": N_("Legal basis"),
    "sarana": N_("Facilities and infrastructure"),
    "kompetensi": N_("Staff competence"),
    "pengawasan": N_("Internal supervision"),
    "jumlah_pelaksana": N_("Number of staff"),
    "jaminan_pelayanan": N_("Service guarantee"),
    "jaminan_keamanan": N_("Security and safety guarantee"),
    "evaluasi_kinerja": N_("Performance evaluation"),
    "perilaku": N_("Staff behaviour"),
    "lainnya": N_("Other"),
}
assert set(CATEGORY_MSGIDS) == set(CATEGORIES), "categories moved: keep the labels in step"
PRIORITY_MSGIDS = {"high": N_("High"), "normal": N_("Normal"), "low": N_("Low")}


def web_url(url: str | None) -> str | None:
    """Only http(s) links become links; anything else (javascript:, data:) stays text."""
    return url if url and re.fullmatch(r"https?://[^\s]+", url) else None


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"], disabled_extensions=["txt"], default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_jinja(env)
    env.globals.update(CATEGORY_MSGIDS=CATEGORY_MSGIDS, PRIORITY_MSGIDS=PRIORITY_MSGIDS,
                       CATEGORIES=CATEGORIES)
    env.filters["pct"] = lambda n: f"{int(n)}%"
    env.filters["web_url"] = web_url
    return env


def language(request: Request) -> str:
    """?lang= wins (and is remembered by the middleware), then the cookie, then the setting."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return normalize_lang(asked or get_settings().language)


def page(request: Request, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """Render templates/web/<template> with the request's language, user, CSRF token and flash."""
    from tindak.web.identity import current_person
    from tindak.web.session import pop_flash

    lang = language(request)
    path = request.url.path
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    base = {
        "lang": lang,
        "other_lang": "en" if lang == "id" else "id",
        "lang_url": path + "?" + urlencode({**params, "lang": "en" if lang == "id" else "id"}),
        "user": current_person(request),
        "csrf": _LazyCsrf(request),
        "flash": pop_flash(request),
        "path": path,
    }
    html = environment().get_template(template).render(**{**base, **ctx})
    return HTMLResponse(html, status_code=status_code)


class _LazyCsrf:
    """The CSRF token, made only when a page has a form: public pages set no cookie."""

    def __init__(self, request: Request):
        self.request = request

    def __str__(self) -> str:
        from tindak.web.csrf import csrf_token

        return csrf_token(self.request)

    __html__ = __str__


def render_text(template: str, **ctx: Any) -> str:
    """A template rendered outside a request (the sign-in mail)."""
    return environment().get_template(template).render(**ctx)
