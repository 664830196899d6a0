"""Every command and sub-command of `tindak` has help text, and `--help` works for each,
including the commands added later: the test walks the app, it does not list them."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from tindak.cli import app, main


def walk(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, command) of the command and every command below it (groups have `commands`)."""
    found = [(path, cmd)]
    if getattr(cmd, "commands", None):
        for name in sorted(cmd.commands):
            found += walk(cmd.commands[name], (*path, name))
    return found


COMMANDS = walk(typer.main.get_command(app))
IDS = [" ".join(p) or "tindak" for p, _ in COMMANDS]


def test_the_walk_finds_the_commands():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"import", "template", "holidays list", "holidays add", "holidays cancel",
            "recs list"} <= names


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_every_command_has_help(path, cmd):
    assert (cmd.help or cmd.short_help or "").strip(), f"`tindak {' '.join(path)}` has no help"


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_every_option_and_argument_has_help(path, cmd):
    missing = [p.name for p in cmd.params
               if not getattr(p, "hidden", False) and not (getattr(p, "help", None) or "").strip()]
    assert not missing, f"`tindak {' '.join(path)}`: no help for {missing}"


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_help_prints_and_exits_zero(path, cmd, capsys):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr()
    assert "Usage:" in out.out
    assert out.err == ""
