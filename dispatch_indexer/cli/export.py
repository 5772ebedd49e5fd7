"""``export``, ``import`` and ``prune``: the whole index out, its tags and
notes back in, and records away."""

from __future__ import annotations

import json
import sys

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


@app.command("import")
def import_(
    ctx: typer.Context,
    source: str = typer.Argument(
        "-", metavar="FILE", help="What export wrote (JSON lines; - or nothing: stdin)."
    ),
) -> None:
    """Put back the tags and notes of an export (a rebuilt index gets them back;
    the records themselves come from scanning the folders)."""
    try:
        handle = sys.stdin if source == "-" else open(source, encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"cannot read {source}: {exc.strerror}") from None
    with handle:
        records = []
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise BadInputError(f"line {number} of {source} is not JSON") from None
            if not isinstance(record, dict):
                raise BadInputError(f"line {number} of {source} is not a record")
            records.append(record)
    with open_index(ctx) as index:
        count = index.import_labels(records)
    typer.echo(f"tags and notes of {count} dispatch(es) imported")


@app.command("prune")
def prune(
    ctx: typer.Context,
    missing: bool = typer.Option(False, "--missing", help="Only records whose folders are gone."),
    status: list[str] = typer.Option(
        None, "--status", "-s", help="Only this status (repeat for several)."
    ),
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        metavar="AGE",
        help="Only those last active before: 30d, 12h, 90m, 2w, a number of days, or an ISO date.",
    ),
    files: bool = typer.Option(
        False, "--files", help="Also delete their folders (only under registered directories)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove records (and with --files their folders) by status, age or missing folder."""
    criteria = dict(statuses=status or (), older_than=older_than, missing=missing, files=files)
    with open_index(ctx) as index:
        from .. import retention

        planned = retention.prune(index, **criteria, dry_run=True)  # type: ignore[arg-type]
        if not planned.dispatch_ids:
            typer.echo("nothing to prune")
            return
        if dry_run:
            for dispatch_id in planned.dispatch_ids:
                typer.echo(dispatch_id)
            for folder in planned.folders:
                typer.echo(f"folder: {folder}")
            typer.echo(planned.line())
            return
        question = planned.line().replace("would remove", "remove") + "?"
        if not yes and not typer.confirm(question):
            typer.echo("nothing removed")
            raise typer.Exit(1)
        done = retention.prune(index, **criteria)  # type: ignore[arg-type]
    typer.echo(done.line())
