"""A fresh TINDAK_HOME and database for every test: a real SQLite file by default, a real
PostgreSQL schema when TINDAK_TEST_DATABASE_URL is set (CI runs the suite both ways)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import db, dispose_engines
from tindak.database import upgrade
from tindak.settings import get_settings, reset_settings

# Tests call library functions directly: the schema step an entry point takes, on first use.
db.bind(lambda: get_settings().db_url, prepare=upgrade)

PG_URL = os.environ.get("TINDAK_TEST_DATABASE_URL", "")


def pytest_report_header(config):  # type: ignore[no-untyped-def]
    return f"tindak database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite files'}"


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database for one test."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'home' / 'tindak.db'}"
        return
    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    dispose_engines()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture
def home(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """TINDAK_HOME in a temporary folder, settings re-read, engines fresh."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    for key in list(os.environ):
        if key.startswith("TINDAK_") and key != "TINDAK_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("TINDAK_HOME", str(home))
    monkeypatch.setenv("TINDAK_DATABASE_URL", db_url)
    monkeypatch.setenv("TINDAK_SECRET_KEY", "test-secret-key-not-for-production")
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    reset_settings()
    dispose_engines()
    yield home
    dispose_engines()
    reset_settings()


@pytest.fixture
def settings_env(home: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Set TINDAK_* variables for one test: settings_env(SMTP_HOST='127.0.0.1', ...)."""

    def apply(**values: object) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"TINDAK_{key.upper()}", str(value))
        reset_settings()

    return apply


@pytest.fixture
def english(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI and pages in English (TINDAK_LANGUAGE=en), for tests that read English words;
    Indonesian, the default, is tested in tests/test_cli_words.py and the journeys."""
    monkeypatch.setenv("TINDAK_LANGUAGE", "en")
    reset_settings()
