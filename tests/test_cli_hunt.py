"""Every option and argument of every command, given odd values (empty, blank, huge,
negative, zero, wrong type, unicode with a right-to-left override, 5,000 characters, an
impossible date, a terminal escape): each run ends in one clear error line or a sensible
result, never a traceback, an exception's type name, or a raw control character
(issue 11.14). `serve`, `web`, `demo` and `restore` are left out: they start servers or
replace the database (their ports and paths are checked in test_cli_words.py)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import sqlalchemy as sa
import typer.main

from models import Person, Recommendation, session
from tindak.cli import app, main

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
VALUES = ["", " ", "9" * 30, "-1", "0", "abc", "ü日本\u202etxt", "x" * 5000, "2026-02-30",
          "\x1b[31m"]
LEFT_OUT = {"serve", "web", "demo", "restore"}
TYPE_NAMES = ("Error:", "Exception", "Traceback")


def _commands(cmd, path=()):  # type: ignore[no-untyped-def]
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))
    elif path[0] not in LEFT_OUT:
        yield path, cmd


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_every_option_with_odd_values(home):
    files = [str(SAMPLES / f"{k}.csv") for k in ("units", "people", "recommendations")]
    assert _run(["import", *files])[0] == 0
    with session() as s:
        ref, owner_id = s.execute(sa.select(Recommendation.ref, Recommendation.owner_id)).first()
        owner = s.get(Person, owner_id).email
    given = {"REF": ref, "ID": "1", "DATE": "2026-12-24", "NAME": "X", "EMAIL": owner,
             "PATH": str(home / "b.tar.gz"), "PATH.xlsx": str(home / "t.xlsx"),
             "PATH...": files[0]}
    tried, broke = 0, []
    for path, cmd in _commands(typer.main.get_command(app)):
        for p in [p for p in cmd.params if not getattr(p, "is_flag", False)]:
            for value in VALUES:
                argv = list(path)
                for x in cmd.params:
                    if x.param_type_name == "argument":
                        argv.append(value if x is p else given.get(x.metavar or "", "x"))
                    elif x is not p and x.required:
                        argv += [x.opts[0], owner]
                if p.param_type_name == "option":
                    argv += [p.opts[0], value]
                tried += 1
                code, _out, err = _run(argv)
                errors = [line for line in err.splitlines() if line.startswith("kesalahan:")]
                if (any(w in err for w in TYPE_NAMES) and "Usage" not in err
                        or code == 1 and len(errors) != 1
                        or "\x1b" in err or "\u202e" in err):
                    broke.append((argv[:4], code, err[-200:]))
    assert tried > 300
    assert broke == []
