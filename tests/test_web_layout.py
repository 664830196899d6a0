"""The web app's layout rule: route modules run no SQL; the page queries live in
tindak/web/views.py (or the library modules of tindak/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROUTES = sorted((Path(__file__).resolve().parents[1] / "tindak" / "web" / "routes").glob("*.py"))


@pytest.mark.parametrize("module", ROUTES, ids=lambda p: p.name)
def test_route_modules_run_no_sql(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert not imported & {"models", "sqlalchemy"}, (
        f"{module.name} reads the database itself: move the query into tindak/web/views.py")
