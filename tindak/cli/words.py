"""The CLI's words: Indonesian by default, English with TINDAK_LANGUAGE=en (the setting)."""

from __future__ import annotations

import sys

from tindak.errors import Msg, TindakError


def lang() -> str:
    """The person's language; the default when the settings themselves are refused."""
    from tindak.i18n import DEFAULT_LANGUAGE
    from tindak.settings import get_settings

    try:
        return get_settings().language
    except TindakError:
        return DEFAULT_LANGUAGE


def t(msgid: str, /, **params: object) -> str:
    """`msgid` in the person's language, its parameters filled in."""
    from tindak.i18n import error_text

    return error_text(Msg(msgid, **params), lang(), "cli")


def say(msgid: str, /, **params: object) -> None:
    print(t(msgid, **params))


def text(message: object) -> str:
    """An error, a Msg or a library's line, worded for the CLI."""
    from tindak.i18n import error_text

    return error_text(message, lang(), "cli")


def printable(line: str) -> str:
    """A line as safe to print: control and invisible characters shown as escapes (a value
    typed or stored can carry terminal escapes or a right-to-left override)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)


def warn(message: object) -> None:
    print(printable(text(message)), file=sys.stderr)
