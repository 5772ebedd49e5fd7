"""``list`` and ``show``: read the index."""

from __future__ import annotations

import json

import typer

from ..records import DispatchRecord
from . import app
from .common import open_index
from .output import print_record, print_table, short_time


@app.command("list")
def list_(
    ctx: typer.Context,
    status: list[str] = typer.Option(
        None, "--status", "-s", help="Only this status (repeat for several)."
    ),
    limit: int | None = typer.Option(None, "--limit", "-n", min=0, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List dispatches, newest first (missing and unreadable ones marked)."""
    with open_index(ctx) as index:
        records = index.list(status=status, limit=limit)
    if as_json:
        typer.echo(json.dumps([r.list_json() for r in records], indent=2))
        return
    if not records:
        typer.echo("no dispatches indexed")
        return
    print_table(
        ["dispatch id", "status", "lattice", "start", "end", "location"],
        [_row(r) for r in records],
    )


def _row(record: DispatchRecord) -> list[str]:
    status = record.status or "?"
    if record.missing:
        status += " (missing)"
    if record.unreadable:
        status += " (unreadable)"
    return [
        record.dispatch_id,
        status,
        record.lattice_name or "",
        short_time(record.start_time),
        short_time(record.end_time),
        record.path,
    ]


@app.command("show")
def show(
    ctx: typer.Context,
    dispatch_id: str = typer.Argument(..., metavar="ID", help="A dispatch id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one dispatch in full (without the raw result bytes)."""
    with open_index(ctx) as index:
        record = index.get(dispatch_id)
    if as_json:
        typer.echo(json.dumps(record.to_json(), indent=2))
        return
    print_record(record)
