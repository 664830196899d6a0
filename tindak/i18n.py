"""Translations: English msgids in code and templates, Babel catalogs per language.

The catalogs (`tindak/locale/<lang>/LC_MESSAGES/messages.po`) are compiled in memory the
first time a language is asked for, so there is no build step. Mail and the web app share
them: `translator(lang)` gives plain gettext/ngettext callables, `install_jinja(env)` makes
one Jinja environment translate per render from the `lang` variable of the template context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.dates import format_date as _babel_format_date
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_percent as _babel_format_percent
from babel.support import NullTranslations, Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from tindak.calendar import tz_abbr
from tindak.errors import (
    N_,  # noqa: F401 - re-exported: the one marker
    word,
)

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
# Keywords that mark a msgid: Babel's defaults plus N_ (marked here, translated later).
KEYWORDS = {
    "_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3), "N_": None,
}
# Template msgids are extracted with the same whitespace trimming the environment uses.
JINJA_OPTIONS = {"trimmed": "true", "silent": "false"}


# The status labels, so the extractor sees them; the catalog gives SPEC §2's Indonesian.
STATUS_MSGIDS = {
    "open": N_("Not yet followed up"),
    "in_progress": N_("In progress"),
    "awaiting_verification": N_("Done, awaiting verification"),
    "completed": N_("Completed as recommended"),
    "not_actionable": N_("Cannot be followed up"),
}


def normalize_lang(lang: str | None) -> str:
    """'id', 'en', 'en_US', 'id-ID' … → one of LANGUAGES (the default for anything else)."""
    code = (lang or DEFAULT_LANGUAGE).replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


@lru_cache(maxsize=8)
def get_translations(lang: str) -> NullTranslations:
    """The compiled catalog of `lang` (cached); English falls back to the msgids."""
    lang = normalize_lang(lang)
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


@dataclass(frozen=True)
class Translator:
    """gettext/ngettext bound to one language, for Python code and other Jinja environments."""

    lang: str
    gettext: Callable[[str], str]
    ngettext: Callable[[str, str, int], str]

    def status(self, code: str) -> str:
        return status_label(code, self.lang)

    def date(self, d: date, tz: str | None = None) -> str:
        return format_date(d, self.lang, tz)


def translator(lang: str | None) -> Translator:
    lang = normalize_lang(lang)
    t = get_translations(lang)
    return Translator(lang=lang, gettext=t.gettext, ngettext=t.ngettext)


@lru_cache(maxsize=64)
def status_label(code: str, lang: str | None) -> str:
    """The label of a status code in `lang` ('Belum ditindaklanjuti' …); the code if unknown."""
    msgid = STATUS_MSGIDS.get(code)
    return get_translations(normalize_lang(lang)).gettext(msgid) if msgid else code


# Cached: Babel's formatting costs ~40 µs a call, and a daily run formats a million dates.
@lru_cache(maxsize=8192)
def format_date(d: date, lang: str | None, tz: str | None = None) -> str:
    """'2 Februari 2026' / '2 February 2026', with ' (WITA)' etc. when a unit timezone is given."""
    text = _babel_format_date(d, "d MMMM y", locale=normalize_lang(lang))
    return f"{text} ({tz_abbr(tz)})" if tz else text


def error_text(exc: object, lang: str | None, edge: str = "web") -> str:
    """A TindakError's (or a Msg's) line in `lang`: its msgid translated, then its parameters
    filled in; `edge` picks the words that differ between a page and the CLI."""
    return word(exc, get_translations(normalize_lang(lang)).gettext, edge)


def gettext_for(lang: str | None) -> Callable[[str], str]:
    return get_translations(normalize_lang(lang)).gettext


def format_percent(share: float, lang: str | None) -> str:
    """0.625 → '62%' (rounded down to whole points: never claims more than was done)."""
    return _babel_format_percent(int(share * 100) / 100, locale=normalize_lang(lang))


# Jinja: one environment, the language read from the template context at each call.
def _lang_of(context: Context) -> str:
    return normalize_lang(context.get("lang"))


@pass_context
def _ctx_gettext(context: Context, message: str) -> str:
    return get_translations(_lang_of(context)).gettext(message)


@pass_context
def _ctx_ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return get_translations(_lang_of(context)).ngettext(singular, plural, n)


@pass_context
def _ctx_status(context: Context, code: str) -> str:
    return status_label(code, _lang_of(context))


@pass_context
def _ctx_date(context: Context, d: date, tz: str | None = None) -> str:
    return format_date(d, _lang_of(context), tz)


@pass_context
def _ctx_percent(context: Context, share: float) -> str:
    return format_percent(share, _lang_of(context))


def install_jinja(env: Environment) -> None:
    """Make `env` translate from the `lang` context variable; adds filters status/date/percent.

    `env` needs `extensions=["jinja2.ext.i18n"]`; msgids are trimmed like the extractor's.
    """
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
        _ctx_gettext, _ctx_ngettext, newstyle=True
    )
    env.filters["status_label"] = _ctx_status
    env.filters["date"] = _ctx_date
    env.filters["percent"] = _ctx_percent


# Extraction: the same msgids `pybabel extract -F babel.cfg` finds, for tests and tooling.
Msgid = str | tuple[str, ...]


def _files(paths: Iterable[Path | str]) -> Iterator[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            yield p


def _method(path: Path) -> str | None:
    if path.suffix == ".py":
        return "python"
    if path.suffix in (".html", ".txt", ".j2", ".jinja"):
        return "jinja2.ext:babel_extract"
    return None


def extract_msgids(paths: Iterable[Path | str]) -> dict[Msgid, list[str]]:
    """Every msgid in the Python files and Jinja templates under `paths` → 'file:line' list.

    A plural msgid is the tuple (singular, plural).
    """
    found: dict[Msgid, list[str]] = {}
    for path in _files(paths):
        method = _method(path)
        if method is None:
            continue
        options: dict[str, Any] = dict(JINJA_OPTIONS) if method != "python" else {}
        for lineno, message, _comments, _context in extract_from_file(
            method, str(path), keywords=KEYWORDS, options=options
        ):
            key: Msgid = message if isinstance(message, str) else tuple(message)
            found.setdefault(key, []).append(f"{path}:{lineno}")
    return found
