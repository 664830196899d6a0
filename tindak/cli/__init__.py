"""`tindak`: the command line. Thin: parse, call one library function, translate errors."""

from __future__ import annotations

import sys

import typer

from tindak.errors import ImportFailed, TindakError

app = typer.Typer(
    name="tindak",
    help="Tindak: follow-up of Forum Konsultasi Publik recommendations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _register() -> None:
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
    """Entry point: one clear line on stderr and a non-zero exit on error, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if args and "--help" not in args:
            from tindak.settings import get_settings

            get_settings()  # bad settings stop every command before it does anything
        app(args=argv, standalone_mode=False)
    except ImportFailed as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TindakError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # usage errors and anything unexpected: one line, no traceback
        import sqlalchemy.exc

        if isinstance(exc, sqlalchemy.exc.DBAPIError):
            print(f"error: {database_problem(exc)}", file=sys.stderr)
            return 1
        # typer bundles its own click: recognise its usage errors by shape, not by class.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None),
                                                               int):
            exc.show()
            return exc.exit_code
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def database_problem(exc: Exception) -> str:
    """The database driver's own first line, without SQLAlchemy's SQL and links."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if "locked" in first or "busy" in first:
        return (f"the database is busy ({first}): another program holds it; nothing was "
                "changed, try again")
    return f"database error: {first}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
