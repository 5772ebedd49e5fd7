"""Tables, records and progress for people at a terminal.

rich is loaded only for the scan's live progress: plain lines print faster
than rich can be imported.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import typer

from ..records import DispatchRecord

if TYPE_CHECKING:
    from ..scan.scanner import Progress as ProgressCallback


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
            row = record.list_json()
            # A cell holds text: tags as "a;b", as spreadsheets split them.
            row["tags"] = ";".join(row.get("tags") or [])
            writer.writerow(row)
    out.flush()


def short_time(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


# Bookkeeping of the index, in ``show --json`` only: how a change is told
# (size, mtime, inode, hash), the listing order, the pickle's own folder.
INTERNAL_FIELDS = frozenset(
    {"mtime_ns", "inode", "sha256", "sort_time", "last_event", "pickled_results_dir", "size"}
)
# Shown even when empty; any other field only when it says something.
ALWAYS_SHOWN = ("dispatch_id", "status", "lattice_name", "start_time", "end_time")
INDENT = "    "


def print_record(
    record: DispatchRecord, sub_workflows: list[tuple[str, int | None]] | None = None
) -> None:
    """What a person asks ``show`` for: the dispatch's fields without the
    index's bookkeeping, its error as a block, its parent and sub-workflows,
    then its tasks."""
    lines: list[tuple[str, str]] = []
    for key, value in _shown_fields(record):
        lines.append((key, _text(value)))
        if key == "end_time" and record.start_time and record.end_time:
            lines.append(("duration", _duration(record.end_time - record.start_time)))
    width = max(len(key) for key, _ in [*lines, ("result", "")])
    for key, text in lines:
        typer.echo(f"{key:<{width}}  {text}".rstrip())
    if record.result is not None:
        typer.echo(f"{'result':<{width}}  {json.dumps(record.result)}")
    error = (record.error or "").strip("\n")
    if "\n" in error:
        typer.echo("error:")
        for line in error.splitlines():
            typer.echo(f"{INDENT}{line}".rstrip())
    elif error:
        typer.echo(f"{'error':<{width}}  {error}")
    if record.parent_dispatch_id:
        typer.echo(f"parent: {record.parent_dispatch_id}{_task(record.parent_node_id)}")
    if sub_workflows:
        typer.echo(f"sub-workflows ({len(sub_workflows)}):")
        for child, node_id in sub_workflows:
            typer.echo(f"  {child}{_task(node_id)}")
    if record.nodes:
        typer.echo(f"nodes ({len(record.nodes)}):")
        for node in record.nodes:
            line = f"  {node.node_id!s:>4}  {node.status or '?':<10} {node.name or ''}"
            typer.echo(line.rstrip())


def _shown_fields(record: DispatchRecord) -> Iterator[tuple[str, Any]]:
    for key, value in vars(record).items():
        if key in INTERNAL_FIELDS or key in ("nodes", "result", "error"):
            continue
        # ``is``: a task id 0 says something, False does not.
        if key in ALWAYS_SHOWN or not (value is None or value is False or value in ("", [], {})):
            yield key, value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return short_time(value)
    if value is True:
        return "yes"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _duration(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    shown = [f"{n} {unit}" for n, unit in parts if n][:2]
    return " ".join(shown)


def _task(node_id: int | None) -> str:
    return f" (task {node_id})" if node_id is not None else ""


@contextlib.contextmanager
def progress_counter(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A live count of dispatch folders seen, when attached to a terminal."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

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
