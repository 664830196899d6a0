"""`tindak`: the command line. Thin: parse, call one library function, translate errors."""

from __future__ import annotations

import sys

import sqlalchemy.exc
import typer

from tindak.cli.words import lang, printable, t, text
from tindak.database import migrate
from tindak.errors import N_, ImportFailed, Msg, TindakError
from tindak.i18n import gettext_for
from tindak.settings import get_settings

app = typer.Typer(
    name="tindak",
    help="Tindak: follow-up of Forum Konsultasi Publik recommendations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# Commands that open no database (template), bring their own up (demo, web, serve), or must
# find it as it is (restore checks a backup against it before anything is made).
OWN_SCHEMA_STEP = frozenset({"template", "demo", "web", "serve", "restore"})


def _register() -> None:
    # Here, not at the top: each command module imports this package's `args`.
    from tindak.cli import backup, holidays, imports, recs, report, run, web

    recs.register(app)
    backup.register(app)
    imports.register(app)
    report.register(app)
    holidays.register(app)
    run.register(app)
    web.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: one clear line on stderr and a non-zero exit on error, never a traceback.

    Everything printed is in the person's language (TINDAK_LANGUAGE, Indonesian by default);
    Typer's usage errors and `--help` stay as Typer words them, in English.
    """
    def fail(message: object) -> None:
        print(printable(t(N_("error: %(message)s"), message=text(message))), file=sys.stderr)

    args = sys.argv[1:] if argv is None else argv
    try:
        if args and "--help" not in args:
            get_settings()  # bad settings stop every command before it does anything
            if args[0] not in OWN_SCHEMA_STEP:
                migrate()  # the schema step, before the command reads or writes
        app(args=argv, standalone_mode=False)
    except ImportFailed as exc:
        for line in exc.lines(gettext_for(lang()), "cli"):
            print(printable(line), file=sys.stderr)
        fail(exc)
        return 1
    except TindakError as exc:
        fail(exc)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        fail(Msg(N_("aborted")))
        return 1
    except KeyboardInterrupt:
        fail(Msg(N_("interrupted")))
        return 130
    except OSError as exc:  # a home that is a file, a folder this user may not write …
        fail(Msg(N_("cannot use %(path)s: %(detail)s (check TINDAK_HOME and that this user "
                    "may write there)"), path=str(exc.filename or ""),
                 detail=exc.strerror or str(exc)))
        return 1
    except Exception as exc:  # usage errors and anything unexpected: one line, no traceback
        if isinstance(exc, sqlalchemy.exc.DBAPIError):
            fail(database_problem(exc))
            return 1
        # typer bundles its own click: recognise its usage errors by shape, not by class.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        fail(f"{type(exc).__name__}: {exc}")
        return 1
    return 0


def database_problem(exc: Exception) -> Msg:
    """The database driver's own first line, without SQLAlchemy's SQL and links."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if "locked" in first or "busy" in first:
        return Msg(N_("the database is busy (%(detail)s): another program holds it; nothing "
                      "was changed, try again"), detail=first)
    if "unable to open database file" in first or "readonly database" in first:
        return Msg(N_("cannot open or write the database file (%(detail)s): check that "
                      "TINDAK_HOME exists and this user may write in it"), detail=first)
    return Msg(N_("database error: %(detail)s"), detail=first)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
