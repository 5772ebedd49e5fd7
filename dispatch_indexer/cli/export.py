"""``export`` and ``prune``: the whole index out, and records of gone folders away."""

from __future__ import annotations

import typer

from ..errors import BadInputError
from . import app
from .common import open_index
from .output import write_records


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: str = typer.Option("jsonl", "--format", "-f", metavar="FORMAT", help="jsonl or csv."),
) -> None:
    """Stream every record of the index to stdout, newest first."""
    if fmt not in ("jsonl", "csv"):
        raise BadInputError(f"--format must be jsonl or csv, not {fmt!r}")
    with open_index(ctx) as index:
        write_records(index.iterate(limit=None), fmt)


@app.command("prune")
def prune(
    ctx: typer.Context,
    missing: bool = typer.Option(
        False, "--missing", help="Remove records whose folders are gone (required)."
    ),
    older_than: float | None = typer.Option(
        None, "--older-than", metavar="DAYS", help="Only those missing at least DAYS days."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove records of dispatches whose folders are gone."""
    if not missing:
        raise BadInputError("say what to prune: --missing")
    if older_than is not None and not older_than >= 0:
        raise BadInputError(f"--older-than must be 0 days or more, not {older_than:g}")
    with open_index(ctx) as index:
        ids = index.prune_missing(older_than, dry_run=True)
        if not ids:
            typer.echo("nothing to prune")
            return
        if not yes and not typer.confirm(f"remove {len(ids)} record(s) of missing dispatches?"):
            typer.echo("nothing removed")
            raise typer.Exit(1)
        removed = index.prune_missing(older_than)
    typer.echo(f"removed {len(removed)} record(s)")
