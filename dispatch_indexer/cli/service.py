"""``service install`` and ``service uninstall``: the daemon as a systemd user service."""

from __future__ import annotations

import typer

from . import IndexerGroup, app
from .common import options

service_app = typer.Typer(
    cls=IndexerGroup,
    name="service",
    help="Install or remove the systemd user service that runs the daemon.",
    no_args_is_help=True,
)
app.add_typer(service_app, name="service")


@service_app.command("install")
def install(ctx: typer.Context) -> None:
    """Write the systemd user unit (using this index: --home/--db are kept)."""
    from ..daemon import service as service_mod

    home, db = options(ctx)
    unit = service_mod.install(home=home, db=db)
    typer.echo(f"wrote {unit}")
    typer.echo("enable and start it with:")
    typer.echo(f"  {service_mod.enable_command()}")


@service_app.command("uninstall")
def uninstall() -> None:
    """Remove the systemd user unit."""
    from ..daemon import service as service_mod

    unit = service_mod.uninstall()
    typer.echo(f"removed {unit}")
    typer.echo("stop and disable it with:")
    typer.echo(f"  {service_mod.disable_command()}")
