"""`tindak backup PATH` and `tindak restore PATH [--force]`."""

from __future__ import annotations

from pathlib import Path

import typer

from tindak.cli.words import text


def _say(line: object) -> None:
    print(text(line))


def backup_cmd(
    path: Path = typer.Argument(..., metavar="PATH", help="The backup file to write (.tar.gz), "
                                "or a folder to write a dated one into."),
    force: bool = typer.Option(False, "--force", help="Replace PATH if it exists."),
) -> None:
    """Back up the database and the evidence files, consistently, while Tindak runs."""
    from tindak.backup import backup

    backup(path, force=force, say=_say)


def restore_cmd(
    path: Path = typer.Argument(..., metavar="PATH", help="A backup written by `tindak backup`."),
    force: bool = typer.Option(False, "--force", help="Replace a database that holds data "
                               "(what it held is kept aside)."),
) -> None:
    """Restore a backup: check it whole, then swap it in; a bad backup changes nothing."""
    from tindak.backup import restore

    restore(path, force=force, say=_say)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("backup")(backup_cmd)
    app.command("restore")(restore_cmd)
