"""``add-dir``, ``remove-dir`` and ``dirs``: the registered results directories."""

from __future__ import annotations

import json

import typer

from . import app
from .common import open_index
from .output import print_table


@app.command("add-dir")
def add_dir(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(..., metavar="PATH...", help="Results directories."),
    watch: str = typer.Option(
        "auto", help="How the daemon watches it: auto, native (inotify) or polling."
    ),
) -> None:
    """Register results directories to index."""
    with open_index(ctx) as index:
        for path in index.add_dirs(paths, watch=watch):
            typer.echo(f"registered {path}")


@app.command("remove-dir")
def remove_dir(
    ctx: typer.Context,
    path: str = typer.Argument(..., help="A registered results directory."),
    forget: bool = typer.Option(False, "--forget", help="Also delete its records."),
) -> None:
    """Unregister a results directory (its records stay unless --forget)."""
    with open_index(ctx) as index:
        removed = index.remove_dir(path, forget=forget)
        typer.echo(f"unregistered {path}" + (f"; forgot {removed} record(s)" if forget else ""))


@app.command("dirs")
def dirs(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List registered results directories with their record counts."""
    with open_index(ctx) as index:
        roots = index.dirs()
    if as_json:
        typer.echo(json.dumps([vars(r) for r in roots], indent=2))
        return
    if not roots:
        typer.echo("no directories registered; add one with: covalent-indexer add-dir PATH")
        return
    print_table(
        ["path", "watch", "records", "state"],
        [[r.path, r.watch, str(r.records), "ok" if r.exists else "MISSING"] for r in roots],
    )
