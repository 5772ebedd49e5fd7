"""``service install`` and ``service uninstall``: the daemon as a user service
(a systemd user unit on Linux, a launchd agent on macOS)."""

from __future__ import annotations

import typer

from . import IndexerGroup, app
from .common import options

service_app = typer.Typer(
    cls=IndexerGroup,
    name="service",
    help="Install or remove the user service that runs the daemon "
    "(systemd on Linux, launchd on macOS).",
    no_args_is_help=True,
)
app.add_typer(service_app, name="service")


@service_app.command("install")
def install(ctx: typer.Context) -> None:
    """Write the user service file (using this index: --home/--db are kept)."""
    from ..daemon import service as service_mod

    home, db = options(ctx)
    written = service_mod.install(home=home, db=db)
    typer.echo(f"wrote {written.path}")
    typer.echo(written.action)
    typer.echo(f"  {written.command}")


@service_app.command("uninstall")
def uninstall() -> None:
    """Remove the user service file."""
    from ..daemon import service as service_mod

    removed = service_mod.uninstall()
    typer.echo(f"removed {removed.path}")
    typer.echo(removed.action)
    typer.echo(f"  {removed.command}")
