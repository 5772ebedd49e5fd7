"""``list --follow``: records as they are written, one line each, until Ctrl-C."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from ..records import DispatchRecord
from .output import short_time

if TYPE_CHECKING:
    from ..index import DispatchIndex


def follow_records(index: DispatchIndex, filters: dict[str, Any], fmt: str) -> None:
    """Print each new or changed record (a table line, or ``jsonl``) until
    interrupted; Ctrl-C and SIGTERM end it quietly, with exit 0."""
    stop = threading.Event()

    # Handlers only set the flag: the poll loop ends between two reads.
    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        out = sys.stdout
        if fmt == "table":
            out.write(_line("time", "dispatch id", "status", "lattice", "location") + "\n")
            out.flush()
        for record in index.follow(**filters, stop=stop):
            out.write((json.dumps(record.list_json()) if fmt == "jsonl" else _row(record)) + "\n")
            out.flush()
    except BrokenPipeError:
        pass  # `| head`: the reader is gone, which is not an error
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _row(record: DispatchRecord) -> str:
    status = record.status or "?"
    if record.missing:
        status += " (missing)"
    if record.unreadable:
        status += " (unreadable)"
    return _line(
        short_time(record.updated_at),
        record.dispatch_id,
        status,
        record.lattice_name or "",
        record.path,
    )


def _line(when: str, dispatch_id: str, status: str, lattice: str, location: str) -> str:
    # Fixed widths: the lines come one at a time and cannot be aligned after.
    return f"{when:<19}  {dispatch_id:<36}  {status:<12}  {lattice:<20}  {location}".rstrip()
