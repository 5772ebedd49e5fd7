"""Tables, records and progress for people at a terminal."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import sys
from collections.abc import Iterable, Iterator

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..records import DispatchRecord
from ..scan.scanner import Progress as ProgressCallback


def _console() -> Console:
    # Wide enough that ids and paths are never cut when output is piped.
    return Console(soft_wrap=True, highlight=False)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Aligned columns, never cut: ids and paths must stay copyable."""
    columns = zip(headers, *rows, strict=True)
    widths = [max(len(str(cell)) for cell in column) for column in columns]
    for row in [headers, *rows]:
        line = "  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths, strict=False))
        typer.echo(line.rstrip())


FORMATS = ("table", "json", "jsonl", "csv")


def write_records(records: Iterable[DispatchRecord], fmt: str) -> None:
    """Records as JSON (one array), JSON lines or CSV, streamed to stdout."""
    out = sys.stdout
    keys = DispatchRecord.LIST_KEYS
    if fmt == "json":
        out.write(json.dumps([r.list_json() for r in records], indent=2) + "\n")
    elif fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record.list_json()) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow(record.list_json())
    out.flush()


def short_time(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def print_record(
    record: DispatchRecord, sub_workflows: list[tuple[str, int | None]] | None = None
) -> None:
    """Every field, then the sub-workflow links and the nodes."""
    data = record.to_json()
    nodes = data.pop("nodes")
    result = data.pop("result")
    width = max(len(k) for k in data)
    console = _console()
    for key, value in data.items():
        console.print(f"{key:<{width}}  {'' if value is None else value}", markup=False)
    console.print(f"{'result':<{width}}  {json.dumps(result)}", markup=False)
    if record.parent_dispatch_id:
        console.print(
            f"parent: {record.parent_dispatch_id}{_task(record.parent_node_id)}", markup=False
        )
    if sub_workflows:
        console.print(f"sub-workflows ({len(sub_workflows)}):", markup=False)
        for child, node_id in sub_workflows:
            console.print(f"  {child}{_task(node_id)}", markup=False)
    if nodes:
        console.print(f"nodes ({len(nodes)}):", markup=False)
        for node in nodes:
            console.print(
                f"  {node['node_id']!s:>4}  {node['status'] or '?':<10} {node['name']}",
                markup=False,
            )


def _task(node_id: int | None) -> str:
    return f" (task {node_id})" if node_id is not None else ""


@contextlib.contextmanager
def progress_counter(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A live count of dispatch folders seen, when attached to a terminal."""
    if not enabled:
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("scanning: {task.completed} dispatch folders"),
        TimeElapsedColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("scan", total=None)

        def advance(seen: int) -> None:
            bar.update(task, completed=seen)

        yield advance
