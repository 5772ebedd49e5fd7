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
from ..read.resultinfo import read_fields
from ..store.provisional import SOURCE
from ..store.scope import utcnow
from ..store.store import Store
from .walk import Found, find_dispatches

# Rows written per transaction: enough to amortise, small enough to commit often.
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
    # This thread walks (a stat per folder), reads each result_info.yaml (an
    # open, a read, a close) and binds the rows; another writes them, on its
    # own connection, in SQLite without the GIL. (A third thread reading the
    # files lost more to taking the GIL back after each system call than it
    # won: docs/performance.md, session 9.)
    with ThreadPoolExecutor(1, thread_name_prefix="listing-write") as writer:
        writing: Future[int] | None = None

        def write(found: list[Found]) -> None:
            nonlocal writing
            rows = store.listing_batch(_provisional_rows(found), shared)
            future = writer.submit(store.list_new, rows)
            if writing is not None:
                listed.count += writing.result()
            writing = future

        try:
            batch: list[Found] = []
            for found in walk:
                if should_stop is not None and should_stop():
                    listed.stopped = True
                    break
                batch.append(found)
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


def _provisional_rows(found: list[Found]) -> list[tuple[object, ...]]:
    """The provisional records (``provisional.ROW``) of these folders, but
    for those Covalent did not name."""
    rows = []
    opened = _Folder()
    try:
        for folder, (size, mtime_ns, inode) in found:
            parent, _, name = folder.rpartition("/")
            if not parent or parent.endswith("/"):
                parent, name = os.path.split(folder)  # the root, or "//" in it
            fd = opened.fd(parent)
            if fd is not None:
                # Relative to the parent: the kernel resolves two names, not the path.
                dispatch_id, status, start, end = read_fields(name + _SLASH_INFO_FILE, fd)
            else:
                dispatch_id, status, start, end = read_fields(folder + _SLASH_INFO_FILE)
            if dispatch_id is not None and dispatch_id != name:
                # Not a folder Covalent named: its id is known only from the pickle.
                continue
            sort_time = start or dt.datetime.fromtimestamp(mtime_ns / 1e9, dt.timezone.utc)
            rows.append(
                (name, folder, parent, size, mtime_ns, inode, status, start, end, sort_time)
            )
    finally:
        opened.close()
    return rows


_SLASH_INFO_FILE = "/" + INFO_FILE
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


class _Folder:
    """An open descriptor of the folder last asked for (a chunk's folders
    mostly share one parent)."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._fd: int | None = None

    def fd(self, path: str) -> int | None:
        if path != self._path:
            self.close()
            self._path = path
            try:
                self._fd = os.open(path, _FOLDER_FLAGS)
            except OSError:
                self._fd = None
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._path = None


def drop_vanished(store: Store, root: str) -> int:
    """Drop the provisional records under ``root`` whose folder is gone
    before it could be read; how many."""
    gone = [
        dispatch_id
        for dispatch_id, path in store.listed_under(root)
        if not os.path.exists(os.path.join(path, RESULT_FILE))
    ]
    return store.drop_listed(gone) if gone else 0
