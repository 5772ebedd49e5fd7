"""Following the index: new and changed records as they are written.

Reads the change feed (``store.changes``) every ``interval`` seconds, so it
works with or without a daemon writing, on either engine, from any process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from .paths import is_within
from .records import DispatchRecord
from .store.changes import Follower, Mark

if TYPE_CHECKING:
    from .index import DispatchIndex

DEFAULT_INTERVAL = 0.5


def follow(
    index: DispatchIndex,
    *,
    status: str | Iterable[str] | None = None,
    lattice_name: str | None = None,
    results_dir: str | os.PathLike[str] | None = None,
    include_missing: bool = True,
    interval: float = DEFAULT_INTERVAL,
    from_start: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[DispatchRecord]:
    """Records written from now on (``from_start``: every record first, in
    the order they were written), each time it is written, until ``stop`` is
    set. Filters as ``DispatchIndex.list``'s; hidden records are left out."""
    statuses = {status} if isinstance(status, str) else set(status or ())
    folder = os.path.abspath(os.fspath(results_dir)) if results_dir is not None else None
    stop = stop or threading.Event()

    def wanted(record: DispatchRecord) -> bool:
        return (
            not record.hidden
            and (not statuses or record.status in statuses)
            and (lattice_name is None or record.lattice_name == lattice_name)
            and (folder is None or is_within(record.results_dir, folder))
            and (include_missing or not record.missing)
        )

    follower = Follower(Mark.decode(None) if from_start else index.change_head())
    if not from_start:
        # What was written just before the head is history too (the first
        # poll looks OVERLAP back): seen, not shown.
        for _ in follower.poll(index.changes):
            pass
    while not stop.is_set():
        # A thread with no connection of its own (the notifier's, a web
        # server's) opens one per poll and closes it after: a follower may
        # wait for hours, and must not hold a PostgreSQL server's slot meanwhile.
        with index.connection():
            found = list(follower.poll(index.changes))
        for record in found:
            if wanted(record):
                yield record
        stop.wait(interval)
