"""`tindak web` serves the web app; `tindak login-link EMAIL` prints a one-time sign-in URL."""

from __future__ import annotations

import socket
import sys

import typer

from tindak.cli import args
from tindak.cli.words import t
from tindak.database import migrate
from tindak.errors import N_, InvalidInput
from tindak.settings import get_settings

DEFAULT_BASE = "http://127.0.0.1:8000"


def web_cmd(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Serve the web app (public pages, owners' link pages, planners' and leaders' pages)."""
    import uvicorn  # the server's import is only paid by `tindak web`

    args.port(port)
    if not host.strip():
        raise InvalidInput(N_("--host is empty: give an address, e.g. 127.0.0.1"))
    migrate()  # bring the schema up to date before the first request
    try:  # uvicorn would log a traceback and exit 3: say it in one line instead
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise InvalidInput(N_("cannot listen on %(host)s:%(port)s (%(detail)s): is another "
                              "program using that port? Choose another with --port"),
                           host=host, port=port, detail=exc.strerror or str(exc)) from None
    # X-Forwarded-* only from the proxies named by TINDAK_TRUSTED_PROXIES (none by default):
    # otherwise any client would choose the address its sign-in limit counts.
    proxies = get_settings().trusted_proxies
    uvicorn.run("tindak.web:create_app", factory=True, host=host, port=port,
                proxy_headers=bool(proxies), forwarded_allow_ips=proxies or "",
                log_level="info")


def login_link_cmd(
    email: str = typer.Argument(..., help="Email of a person already in Tindak."),
) -> None:
    """Print a one-time sign-in URL (30 minutes) for a person, e.g. the first admin."""
    from tindak.web.signin import login_url  # the web app's import: only this command pays it

    base = get_settings().base_url
    if base is None:
        print(t(N_("note: TINDAK_BASE_URL is not set; the link assumes %(base)s"),
                base=DEFAULT_BASE), file=sys.stderr)
    print(login_url(email, base or DEFAULT_BASE))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("web")(web_cmd)
    app.command("login-link")(login_link_cmd)
