"""``serve``: the HTTP API and the status page."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ..errors import BadInputError
from . import app
from .common import options

if TYPE_CHECKING:
    from ..http import ServerSettings

# uvicorn's log levels, for the HTTP server (the daemon's are config.DAEMON_LOG_LEVELS).
UVICORN_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(
        None,
        "--host",
        metavar="ADDRESS",
        help="Address to listen on (default: http_host in the config, 127.0.0.1).",
    ),
    port: int | None = typer.Option(
        None,
        "--port",
        metavar="PORT",
        help="Port to listen on (default: http_port in the config, 48010; 0 picks a free one).",
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        metavar="TOKEN",
        help="Require 'Authorization: Bearer TOKEN' on every request "
        "(default: $COVALENT_INDEXER_TOKEN, then http_token in the config). "
        "Needed to listen beyond loopback.",
    ),
    log_level: str = typer.Option(
        "warning",
        "--log-level",
        metavar="LEVEL",
        help=f"Server log level: {', '.join(UVICORN_LOG_LEVELS)}.",
    ),
) -> None:
    """Serve the HTTP API and the status page (http://127.0.0.1:48010/ by default)."""
    if log_level.lower() not in UVICORN_LOG_LEVELS:
        raise BadInputError(f"--log-level must be one of {', '.join(UVICORN_LOG_LEVELS)}")
    if port is not None and not 0 <= port <= 65535:
        raise BadInputError(f"--port must be between 0 and 65535, not {port}")
    from ..http import serve as serve_http  # FastAPI loads only for this command

    def ready(settings: ServerSettings) -> None:
        note = "bearer token required" if settings.token else "no token: loopback only"
        typer.echo(f"serving the status page and API on {settings.url} ({note}); Ctrl-C stops")

    home, db = options(ctx)
    serve_http(db, home=home, host=host, port=port, token=token, log_level=log_level, ready=ready)
