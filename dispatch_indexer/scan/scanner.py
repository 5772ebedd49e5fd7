"""Bring the index up to date with what is on disk under some roots.

Unchanged folders (same size, mtime and inode of result.pkl) are not
re-read; new and changed ones are read and written in batches, one
transaction each; folders that vanished are forgotten and their dispatches
marked missing. A result.pkl caught mid-write is retried once it settles.

Reading and writing overlap: while this process writes one batch, the
reader processes (``read.pool``) already read the next, so neither the
cores reading nor the one writing sits idle. Only this process writes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from ..config import Config
from ..paths import depth_below, is_within
from ..read.pool import InProcessReader, Reader, ReadTask
from ..read.reader import ReadOutcome
from ..records import ScanSummary
from ..store.bulk import SMALL_TABLE
from ..store.read import StoredStat
from ..store.store import Store
from ..text import storable
from . import listing
from .walk import WalkReport, find_dispatches

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


class ScanInterrupted(Exception):
    """The scan was asked to stop; what was written so far is consistent."""


@dataclass
class _Pending:
    folder: str
    root: str


class Scanner:
    """One scan over some roots; ``run`` does the work and returns the summary."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        source: str = "scan",
        progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
        should_stop: Callable[[], bool] | None = None,
        on_folder: Callable[[str], None] | None = None,
        reader: Reader | None = None,
        defer_unsettled: Callable[[list[str], float], None] | None = None,
    ) -> None:
        self.store = store
        self.reader: Reader = reader or InProcessReader()
        self.config = config
        self.source = source
        self.progress = progress
        self.sleep = sleep
        self.should_stop = should_stop
        self.on_folder = on_folder
        # Given (the daemon), files caught mid-write are handed over with the
        # seconds until they settle instead of waited for here: the daemon's
        # scans run on its loop, whose every other read would wait too.
        self.defer_unsettled = defer_unsettled
        self.summary = ScanSummary()
        self._seen = 0
        self._retry: list[ReadOutcome] = []
        # The thread that waits on the readers, and the batch it is reading
        # (with whether its new records count in the summary).
        self._reading_thread: ThreadPoolExecutor | None = None
        self._in_flight: tuple[Future[list[ReadOutcome]], bool] | None = None

    def run(self, roots: Iterable[str], all_roots: Iterable[str] = ()) -> ScanSummary:
        """Scan whole roots. Raises ``ScanInterrupted`` if asked to stop."""
        started = time.monotonic()
        roots = list(dict.fromkeys(roots))
        registered = set(all_roots) | set(roots)
        self.store.finish_interrupted_bulk()
        bulk = False
        try:
            with self._overlapping():
                for root in roots:
                    # Another registered root inside this one is scanned as itself.
                    others = frozenset(r for r in registered if r != root and is_within(r, root))
                    bulk = self._list_first(root, others, bulk)
                    self._scan_root(root, others)
            self._retry_unsettled()
        finally:
            if bulk:
                self.store.end_bulk()
        for root in roots:
            listing.drop_vanished(self.store, root)
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def scan_subtree(self, folder: str, root: str, all_roots: Iterable[str] = ()) -> ScanSummary:
        """Scan one folder inside ``root`` (a folder that just appeared)."""
        started = time.monotonic()
        others = frozenset(
            r for r in all_roots if r != root and r != folder and is_within(r, folder)
        )
        # A folder that just appeared holds a dispatch or a few: read at once,
        # with no thread between the event and the record.
        self._scan_root(root, others, start=folder)
        self._retry_unsettled()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def refresh(self, folders: Iterable[str]) -> ScanSummary:
        """Re-read these dispatch folders (each under a registered root)."""
        started = time.monotonic()
        roots = self.config.root_paths()
        # Only result.pkl folders: another kind's root is read by its sync.
        folders = [f for f in folders if self.config.synced_root(f) is None]
        pending = [
            _Pending(folder, next((r for r in roots if folder != r and is_within(folder, r)), ""))
            for folder in folders
        ]
        self._read_and_apply(pending)
        self._retry_unsettled()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _list_first(self, root: str, exclude: frozenset[str], bulk: bool) -> bool:
        """On a root scanned for the first time, list every dispatch before
        reading any (``listing``), as a bulk build (``store.bulk``) if it
        is one; whether the scan is one from here on."""
        if not os.path.isdir(root) or self.store.has_locations(root):
            return bulk
        before = self.store.table_size()
        if not bulk and before < SMALL_TABLE:
            bulk = self.store.begin_bulk()
        listed = listing.list_root(self.store, self.config, root, exclude, self.should_stop)
        if not bulk and self.store.bulk_worth_it(listed.count, before):
            bulk = self.store.begin_bulk()
        if bulk and self.store.set_aside_worth_it(listed.count, before):
            self.store.set_indexes_aside()
        self.summary.listed += listed.count
        self.summary.listed_seconds += listed.seconds
        if listed.stopped:
            raise ScanInterrupted
        if listed.count:
            log.info("%s: %d dispatches listed in %.2fs", root, listed.count, listed.seconds)
        return bulk

    def _scan_root(self, root: str, exclude: frozenset[str], start: str | None = None) -> None:
        top = start or root
        stored = _Stored(self.store.stored_stats(top))
        if not os.path.isdir(top):
            if start is None:
                self.summary.errors.append(f"root is missing or not a folder: {root}")
            self._forget(stored.rest(), root)
            return
        report = WalkReport()
        batch: list[_Pending] = []
        depth_left = self.config.max_depth - depth_below(top, root)
        walk = find_dispatches(
            top,
            max_depth=max(depth_left, 0),
            follow_symlinks=self.config.follow_symlinks,
            exclude=exclude,
            report=report,
            on_folder=self.on_folder,
        )
        for found in walk:
            if self.should_stop is not None and self.should_stop():
                # Unseen is not gone: nothing is marked missing on the way out.
                self._read_and_apply(batch)
                self._finish_in_flight()
                raise ScanInterrupted
            self._seen += 1
            if self.progress is not None:
                self.progress(self._seen)
            # Known folders are keyed as stored (a name that is not UTF-8, escaped).
            key = storable(found.folder)
            if stored.take(key) == found.stat:
                self.summary.unchanged += 1
                continue
            batch.append(_Pending(found.folder, root))
            if len(batch) >= self.config.batch_size:
                self._read_and_apply(batch)
                batch = []
        self._read_and_apply(batch)
        self._finish_in_flight()
        self.summary.inaccessible += len(report.inaccessible)
        for folder in report.inaccessible:
            self.summary.errors.append(f"cannot read folder: {folder}")
        # What is under a folder we could not list is unknown, not gone; what
        # is under another registered root is that root's to scan.
        unknown = [*report.inaccessible, *exclude]
        gone = [p for p in stored.rest() if not any(p != u and is_within(p, u) for u in unknown)]
        self._forget(gone, root)

    def _forget(self, paths: list[str], root: str) -> None:
        if not paths:
            return
        missing, reread = self.store.forget_locations(paths)
        self.summary.missing += missing
        # The copy shown is gone but another copy remains: show that one.
        # One in a root of another kind is that root's sync to read (the
        # store marked it): this reader knows only result.pkl folders.
        results = [f for f in reread if self.config.synced_root(f) is None]
        self._read_and_apply([_Pending(folder, root) for folder in results], count=False)
        self._finish_in_flight()

    def _read(self, batch: list[_Pending], settle_seconds: float) -> list[ReadOutcome]:
        tasks = [
            ReadTask(p.folder, p.root, self.source, settle_seconds, self.config.max_pickle_bytes)
            for p in batch
        ]
        return self.reader.read_many(tasks)

    def _read_and_apply(self, batch: list[_Pending], count: bool = True) -> None:
        """Read ``batch`` and write it: at once, or (inside ``_overlapping``)
        by handing it to the reading thread and writing the batch before it
        meanwhile; ``_finish_in_flight`` writes the last one."""
        if not batch:
            return
        if self._reading_thread is None:
            self._write(self._read(batch, self.config.settle_seconds), count)
            return
        future = self._reading_thread.submit(self._read, batch, self.config.settle_seconds)
        self._finish_in_flight()
        self._in_flight = (future, count)

    def _finish_in_flight(self) -> None:
        if self._in_flight is not None:
            future, count = self._in_flight
            self._in_flight = None
            self._write(future.result(), count)

    def _write(self, outcomes: list[ReadOutcome], count: bool) -> None:
        self._retry.extend(o for o in outcomes if o.transient)
        self._apply(outcomes, count)

    @contextmanager
    def _overlapping(self) -> Iterator[None]:
        """Overlap reading and writing within the block. On the way out, by
        an error or not, the reading thread is done with the readers, so
        that the next user of the reader has it to itself."""
        self._reading_thread = ThreadPoolExecutor(1, thread_name_prefix="scan-read")
        try:
            yield
        finally:
            self._in_flight = None
            self._reading_thread.shutdown(wait=True)
            self._reading_thread = None

    def _apply(self, outcomes: list[ReadOutcome], count: bool = True) -> None:
        result = self.store.apply(outcomes)
        if count:
            self.summary.new += result.new
            self.summary.updated += result.updated
        self.summary.unreadable += result.unreadable

    def _retry_unsettled(self) -> None:
        """Read again, once, the files that were being written."""
        if not self._retry:
            return
        newest = max(o.record.mtime_ns or 0 for o in self._retry) / 1e9
        wait = min(self.config.settle_seconds, newest + self.config.settle_seconds - time.time())
        if self.defer_unsettled is not None:
            retry, self._retry = self._retry, []
            self.defer_unsettled([o.record.path for o in retry], max(wait, 0.0))
            return
        if wait > 0:
            self.sleep(wait)
        retry, self._retry = self._retry, []
        outcomes = self._read(
            [_Pending(o.record.path, o.record.root or "") for o in retry], settle_seconds=0
        )
        # Still changing under us: left for the next scan (or the watcher).
        self.summary.unsettled += sum(1 for o in outcomes if o.transient)
        self._apply(outcomes)


class _Stored:
    """The stored locations under a folder, met alongside the walk.

    Both come in path order (``find_dispatches``, ``Store.stored_stats``),
    so the two are merged like sorted lists and only the locations the walk
    has gone past without meeting are held: normally none, or the few
    folders that vanished. The lookup is right in any order the walk comes
    in, only slower: a stored path is looked for ahead in the sorted stream,
    then among those passed. (The order can differ: a name that is not UTF-8
    is stored escaped, and sorts by its escape.)
    """

    def __init__(self, rows: Iterator[StoredStat]) -> None:
        self._rows = rows
        self._next = next(rows, None)
        self._passed: dict[str, StoredStat] = {}

    def take(self, path: str) -> tuple[int, int, int] | None:
        """The stored (size, mtime_ns, inode) of ``path`` (which the walk
        found), if any.

        The stream is always read past ``path``, so the row this scan then
        writes for it (a new folder) is behind the stream and never comes
        up again as a stored path the walk did not find.
        """
        row = self._next
        while row is not None and row[0] < path:
            self._passed[row[0]] = row
            row = next(self._rows, None)
        if row is not None and row[0] == path:
            self._next = next(self._rows, None)
            return row[1:]
        self._next = row
        found = self._passed.pop(path, None)
        return found[1:] if found is not None else None

    def rest(self) -> list[str]:
        """Stored paths the walk did not find."""
        if self._next is not None:
            self._passed[self._next[0]] = self._next
            self._passed.update((row[0], row) for row in self._rows)
            self._next = None
        return list(self._passed)
