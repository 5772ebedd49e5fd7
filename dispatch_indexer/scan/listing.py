"""The listing pass: every dispatch of a results directory listed, with its
status, before any result.pkl is read.

Reading a result.pkl costs about half a millisecond of CPU, so the first
scan of a directory of 100,000 dispatches takes close to a minute however it
is spread over the cores, while walking its folders takes half a second.
When a root is scanned for the first time (none of its folders is known: a
new root, an index rebuilt from disk), the scanner first walks it once and
reads only each folder's small result_info.yaml, and writes a provisional
record per dispatch: the id (the folder's name, which is the id Covalent
gave it), the folder, the status, and the start and end time to the minute
(all that file holds). The full reads follow, and each replaces its
provisional record as any newer read of a folder replaces the one before.

A provisional record has ``source = "listing"`` and no ``read_at``. It
writes no location row, so a scan stopped half way still reads every folder
the next time; one whose folder vanished before it was read is dropped when
its root's scan completes (``drop_vanished``).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..config import Config
from ..read.reader import INFO_FILE, RESULT_FILE
from ..read.resultinfo import read_info
from ..store.provisional import SOURCE
from ..store.scope import utcnow
from ..store.store import Store
from .walk import find_dispatches

# Rows written per statement: enough to amortise, small enough to commit often.
BATCH = 2000


@dataclass
class Listed:
    count: int = 0
    seconds: float = 0.0
    stopped: bool = False


def list_root(
    store: Store,
    config: Config,
    root: str,
    exclude: frozenset[str],
    should_stop: Callable[[], bool] | None = None,
) -> Listed:
    """Write a provisional record for every dispatch folder under ``root``,
    if no folder under it is known yet (otherwise the scan reads the few new
    ones soon enough)."""
    started = time.monotonic()
    listed = Listed()
    if not os.path.isdir(root) or store.has_locations(root):
        return listed
    now = utcnow()
    shared: dict[str, object] = {
        "root": root, "source": SOURCE, "first_seen": now, "updated_at": now,
    }  # fmt: skip
    walk = find_dispatches(
        root,
        max_depth=config.max_depth,
        follow_symlinks=config.follow_symlinks,
        exclude=exclude,
    )
    # Rows are written by a thread (on its own connection) while this one
    # walks and reads. Each batch is bound here and written in one statement
    # there, so the writing thread needs the GIL only between batches.
    with ThreadPoolExecutor(1, thread_name_prefix="listing-write") as writer:
        writing: Future[int] | None = None
        batch: list[tuple[object, ...]] = []

        def write(rows: list[tuple[object, ...]]) -> None:
            nonlocal writing
            future = writer.submit(store.list_new, store.listing_batch(rows, shared))
            if writing is not None:
                listed.count += writing.result()
            writing = future

        try:
            for found in walk:
                if should_stop is not None and should_stop():
                    listed.stopped = True
                    break
                row = _provisional(found.folder, found.stat)
                if row is None:
                    continue
                batch.append(row)
                if len(batch) >= BATCH:
                    write(batch)
                    batch = []
            if batch:
                write(batch)
            if writing is not None:
                listed.count += writing.result()
                writing = None
        finally:
            writer.submit(store.close_thread_connection)
    listed.seconds = time.monotonic() - started
    return listed


def _provisional(folder: str, stat: tuple[int, int, int]) -> tuple[object, ...] | None:
    """The provisional record of ``folder`` (``provisional.ROW``); None if
    it is not a folder Covalent named."""
    parent, name = os.path.split(folder)
    info = read_info(os.path.join(folder, INFO_FILE))
    if info.get("dispatch_id", name) != name:
        # Not a folder Covalent named: its id is known only from the pickle.
        return None
    size, mtime_ns, inode = stat
    start = info.get("start_time")
    sort_time = start or dt.datetime.fromtimestamp(mtime_ns / 1e9, dt.timezone.utc)
    return (
        name, folder, parent, size, mtime_ns, inode,
        info.get("status"), start, info.get("end_time"), sort_time,
    )  # fmt: skip


def drop_vanished(store: Store, root: str) -> int:
    """Drop the provisional records under ``root`` whose folder is gone
    before it could be read; how many."""
    gone = [
        dispatch_id
        for dispatch_id, path in store.listed_under(root)
        if not os.path.exists(os.path.join(path, RESULT_FILE))
    ]
    return store.drop_listed(gone) if gone else 0
