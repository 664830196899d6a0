"""Every numeric setting has bounds: a bad value is one line naming the variable, for every
command, before anything is done."""

from __future__ import annotations

import pytest

from tindak.errors import ConfigError
from tindak.settings import get_settings

pytestmark = pytest.mark.usefixtures("english")  # these read the English words

BAD = [
    ("STALE_DAYS", "0"), ("STALE_DAYS", "-5"), ("OVERDUE_REPEAT_DAYS", "0"),
    ("ESCALATE_LEVEL1_DAYS", "-1"), ("ESCALATE_LEVEL2_DAYS", "0"),
    ("REMIND_DAYS_BEFORE", "[7,-1]"), ("REMIND_DAYS_BEFORE", "[]"),
    ("AT_RISK_POINTS", "101"), ("BATCH_SIZE", "0"), ("DELIVERY_LEASE_SECONDS", "0"),
    ("MAX_ATTEMPTS", "0"), ("DELIVERY_RETRIES", "-1"), ("DELIVERY_RETRY_DELAYS", "[-10]"),
    ("OWNER_LINK_DAYS", "0"), ("SMTP_PORT", "70000"), ("SMTP_TIMEOUT", "0"),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_value_out_of_bounds_is_refused_naming_the_variable(settings_env, name, value):
    settings_env(**{name: value})
    with pytest.raises(ConfigError, match=f"TINDAK_{name}"):
        get_settings()


def test_level2_not_after_level1_names_both_variables(settings_env):
    settings_env(ESCALATE_LEVEL1_DAYS=40, ESCALATE_LEVEL2_DAYS=30)
    with pytest.raises(ConfigError) as err:
        get_settings()
    assert "TINDAK_ESCALATE_LEVEL2_DAYS (30)" in str(err.value)
    assert "TINDAK_?" not in str(err.value)


@pytest.mark.parametrize("args", [("run", "daily", "--as-of", "2026-03-09"), ("recs", "list"),
                                  ("outbox", "list"), ("template", "x.xlsx")])
def test_every_command_stops_on_a_bad_setting_in_one_line(tindak, settings_env, args):
    settings_env(STALE_DAYS=0)
    tindak.env["TINDAK_STALE_DAYS"] = "0"
    out = tindak(*args, timeout=60)
    assert out.returncode == 1
    [line] = out.stderr.strip().splitlines()  # one line, in the CLI's language
    assert "TINDAK_STALE_DAYS" in line and line.startswith(("kesalahan:", "error:"))
    assert out.stdout == "" and "Traceback" not in out.stderr


def test_help_still_works_with_a_bad_setting(tindak):
    tindak.env["TINDAK_STALE_DAYS"] = "0"
    out = tindak("recs", "list", "--help", timeout=60)
    assert out.returncode == 0 and "Usage" in out.stdout
