"""``list`` and ``show``: read the index."""

from __future__ import annotations

import json

import typer

from ..records import DispatchRecord
from . import app
from .common import open_index
from .follow import follow_records
from .output import FORMATS, print_record, print_table, short_time, write_records


@app.command("list")
def list_(
    ctx: typer.Context,
    status: list[str] = typer.Option(
        None,
        "--status",
        "-s",
        metavar="STATUS",
        help="Only this status, e.g. FAILED (repeat for several; any case).",
    ),
    results_dir: str | None = typer.Option(
        None, "--results-dir", help="Only dispatches in this folder or below it."
    ),
    lattice_name: str | None = typer.Option(None, "--lattice", help="Only this workflow name."),
    since: str | None = typer.Option(None, help="Started at or after (ISO 8601; naive is UTC)."),
    until: str | None = typer.Option(None, help="Started at or before (ISO 8601)."),
    text: str | None = typer.Option(
        None,
        "--text",
        help='Words (or their starts) and "quoted phrases" of the id, workflow, '
        "location, errors, failing tasks, tags or note.",
    ),
    tag: str | None = typer.Option(None, "--tag", help="Only dispatches with this tag."),
    sort: str = typer.Option(
        "start_time",
        "--sort",
        help="start_time, end_time, duration, lattice_name, status or size (of the folder).",
    ),
    order: str = typer.Option("desc", "--order", help="desc or asc."),
    missing: bool = typer.Option(
        True, "--missing/--no-missing", help="Include dispatches whose folder is gone."
    ),
    limit: int | None = typer.Option(
        None, "--limit", "-n", metavar="N", help="At most N dispatches (default: all)."
    ),
    cursor: str | None = typer.Option(None, help="Continue after a previous page."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, jsonl or csv."),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    follow: bool = typer.Option(
        False, "--follow", "-F", help="Print new and changed dispatches as they come, until Ctrl-C."
    ),
) -> None:
    """List dispatches, newest first or by --sort (missing and unreadable ones marked)."""
    fmt = "json" if as_json else fmt
    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--format")
    if follow:
        _follow(ctx, status, results_dir, lattice_name, missing, fmt)
        return
    filters = dict(
        status=status or None,
        results_dir=results_dir,
        lattice_name=lattice_name,
        since=since,
        until=until,
        text=text,
        tag=tag,
        include_missing=missing,
    )
    with open_index(ctx) as index:
        page = index.list(**filters, sort=sort, order=order, limit=limit, cursor=cursor)
    if fmt == "table":
        if not page:
            typer.echo("no dispatches match" if any(filters.values()) else "no dispatches indexed")
        else:
            print_table(
                ["dispatch id", "status", "lattice", "start", "end", "location"],
                [_row(r) for r in page],
            )
    else:
        write_records(page, fmt)
    if page.next_cursor:
        typer.echo(f"more: --cursor {page.next_cursor}", err=True)
    if page.search_incomplete:
        typer.echo(
            "note: a first scan is still being written; the text search covers "
            "its dispatches once it ends",
            err=True,
        )


def _follow(
    ctx: typer.Context,
    status: list[str] | None,
    results_dir: str | None,
    lattice_name: str | None,
    missing: bool,
    fmt: str,
) -> None:
    if fmt not in ("table", "jsonl"):
        raise typer.BadParameter("--follow prints table or jsonl", param_hint="--format")
    filters = dict(
        status=status or None,
        results_dir=results_dir,
        lattice_name=lattice_name,
        include_missing=missing,
    )
    with open_index(ctx) as index:
        follow_records(index, filters, fmt)


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
    nodes: bool = typer.Option(False, "--nodes", help="Print the per-node table."),
    document: bool = typer.Option(False, "--document", help="Print the Covalent UI document."),
) -> None:
    """Show one dispatch in full (without the raw result bytes)."""
    with open_index(ctx) as index:
        record = index.get(dispatch_id)
        doc = index.result_document(dispatch_id) if document else None
        children = index.sub_workflows(dispatch_id) if not (document or nodes) else []
    if document:
        typer.echo(json.dumps(doc, indent=2))
        return
    if nodes:
        if as_json:
            typer.echo(json.dumps([n.to_json() for n in record.nodes], indent=2))
            return
        print_table(
            ["node", "name", "status", "start", "end", "error"],
            [
                [
                    str(n.node_id),
                    n.name or "",
                    n.status or "",
                    short_time(n.start_time),
                    short_time(n.end_time),
                    (n.error or "").strip().splitlines()[-1:][0] if n.error else "",
                ]
                for n in record.nodes
            ],
        )
        return
    if as_json:
        typer.echo(json.dumps(record.to_json(), indent=2))
        return
    print_record(record, children)
