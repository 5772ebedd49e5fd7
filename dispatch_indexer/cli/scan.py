"""``scan``: bring the index up to date with the disk."""

from __future__ import annotations

import json
import sys

import typer

from . import app
from .common import open_index
from .output import progress_counter


@app.command("scan")
def scan(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(
        None, metavar="[PATH...]", help="Folders to scan (default: every registered one)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Scan results directories and update the index."""
    from ..daemon.status import record_full_scan, utcnow_iso

    started = utcnow_iso()
    with open_index(ctx) as index, progress_counter(enabled=sys.stderr.isatty()) as progress:
        summary = index.scan(paths or None, progress=progress)
        if not paths:
            # Every registered folder: what ``status`` shows as the last full scan.
            record_full_scan(index.paths, started, summary.to_json())
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
        return
    for error in summary.errors[:20]:
        typer.echo(f"warning: {error}", err=True)
    if len(summary.errors) > 20:
        typer.echo(f"warning: ... and {len(summary.errors) - 20} more", err=True)
    typer.echo(summary.line())
