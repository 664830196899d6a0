"""Prefect's own settings, derived from Tindak's: set before Prefect is first imported."""

from __future__ import annotations

import logging
import os
import sys

from tindak.settings import get_settings


def configure_prefect(quiet: bool = False) -> None:
    """Keep Prefect's home under TINDAK_HOME and run it offline, unless already configured.

    A worker started against a Prefect server keeps its PREFECT_API_URL; on one machine
    without a server, Prefect runs an ephemeral API in-process.
    """
    settings = get_settings()
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    if quiet:
        # The command prints its own summary; Prefect's records (the API) keep every log.
        defaults["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    if quiet and "prefect" in sys.modules:
        _quiet_console()


def _quiet_console() -> None:
    """Prefect was imported (so its logging set up) before us: lower its console handlers."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL)
