"""``tag``, ``untag`` and ``note``: what you say of a dispatch, kept by the index."""

from __future__ import annotations

import typer

from ..store.tags import Labels
from . import app
from .common import open_index


def _print(dispatch_id: str, labels: Labels) -> None:
    typer.echo(f"{dispatch_id}: tags: {' '.join(labels.tags) or '(none)'}")
    if labels.note:
        typer.echo(f"note: {labels.note}")


@app.command("tag")
def tag(
    ctx: typer.Context,
    dispatch_id: str = typer.Argument(..., metavar="ID", help="A dispatch id."),
    tags: list[str] = typer.Argument(..., metavar="TAG...", help="Tags to add (no spaces)."),
) -> None:
    """Tag a dispatch (find them with: list --tag TAG). Kept across rescans and moves."""
    with open_index(ctx) as index:
        _print(dispatch_id, index.tag(dispatch_id, tags))


@app.command("untag")
def untag(
    ctx: typer.Context,
    dispatch_id: str = typer.Argument(..., metavar="ID", help="A dispatch id."),
    tags: list[str] = typer.Argument(..., metavar="TAG...", help="Tags to remove."),
) -> None:
    """Remove tags from a dispatch."""
    with open_index(ctx) as index:
        _print(dispatch_id, index.untag(dispatch_id, tags))


@app.command("note")
def note(
    ctx: typer.Context,
    dispatch_id: str = typer.Argument(..., metavar="ID", help="A dispatch id."),
    text: str = typer.Argument(..., metavar="TEXT", help='The note ("" removes it).'),
) -> None:
    """Write a note on a dispatch (replacing its note); searched by list --text."""
    with open_index(ctx) as index:
        _print(dispatch_id, index.note(dispatch_id, text))
