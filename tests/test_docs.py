"""The README keeps up with the code: every command of `tindak` is in its "Command line"
section and has help text, and every module of tindak/, models/ and flows/ is in its
"Layout" table (after simonw/sqlite-utils' tests/test_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from tindak.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PACKAGES = ("tindak", "models", "flows")
NOT_MODULES = ("models/migrations/",)  # Alembic's scripts: one row for the folder


def section(title: str) -> str:
    """The README's text under `## title`, up to the next section of that level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def commands() -> list[tuple[str, Any]]:
    """Every command of the `tindak` tree, as 'recs list', 'web', ... with its click object
    (typer bundles its own click: groups are known by their `commands`, not their class)."""
    out = []

    def walk(prefix: str, group: Any) -> None:
        for name, cmd in sorted(group.commands.items()):
            path = f"{prefix} {name}".strip()
            if hasattr(cmd, "commands"):
                walk(path, cmd)
            else:
                out.append((path, cmd))

    walk("", typer.main.get_command(app))
    return out


COMMANDS = commands()
COMMAND_ROWS = [line for line in section("Command line").splitlines() if line.startswith("|")]


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help_text(path: str, cmd: Any) -> None:
    assert (cmd.help or "").strip(), f"`tindak {path}` has no help text (its docstring)"
    for param in cmd.params:
        if param.param_type_name == "option":
            assert (param.help or "").strip(), f"`tindak {path}` option {param.opts[0]} has no help"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_every_command_is_in_the_readme_command_line_section(path: str) -> None:
    *group, leaf = path.split()
    # A sub-command may share its group's row: "`tindak holidays list` / `add DATE NAME`".
    rows = [r for r in COMMAND_ROWS if f"tindak {' '.join(group or [leaf])}" in r]
    assert any(re.search(rf"(?<![\w-]){re.escape(leaf)}(?![\w-])", r) for r in rows), (
        f"`tindak {path}` is not in README.md's \"Command line\" table: add a row for it")


def modules() -> list[str]:
    """Every module and package under tindak/, models/, flows/, as README paths
    ('tindak/rules.py', 'tindak/web/' for a package)."""
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if any(rel.startswith(p) for p in NOT_MODULES):
                continue
            out.append(rel.removesuffix("__init__.py") if path.name == "__init__.py" else rel)
    return out + list(NOT_MODULES)


LAYOUT_PATHS = set(re.findall(r"^\| `([^`]+)`", section("Layout"), re.M))


@pytest.mark.parametrize("module", modules())
def test_every_module_is_in_the_readme_layout_table(module: str) -> None:
    assert module in LAYOUT_PATHS, (
        f"{module} is not in README.md's Layout table: add a row "
        f"| `{module}` | what it holds | (one row per module, in the folder's place)")


def test_the_layout_table_names_no_module_that_is_gone() -> None:
    gone = sorted(p for p in LAYOUT_PATHS
                  if p.startswith(tuple(f"{pkg}/" for pkg in PACKAGES)) and not (ROOT / p).exists())
    assert gone == [], f"README.md's Layout table names modules that no longer exist: {gone}"
