"""Bring the index up to date with what is on disk under some roots.

Unchanged folders (same size, mtime and inode of result.pkl) are not
re-read; new and changed ones are read and written in batches, one
transaction each; folders that vanished are forgotten and their dispatches
marked missing. A result.pkl caught mid-write is retried once it settles.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .config import Config
from .reader import ReadOutcome
from .readpool import InProcessReader, Reader, ReadTask
from .records import ScanSummary
from .store import Store
from .text import storable
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
    ) -> None:
        self.store = store
        self.reader: Reader = reader or InProcessReader()
        self.config = config
        self.source = source
        self.progress = progress
        self.sleep = sleep
        self.should_stop = should_stop
        self.on_folder = on_folder
        self.summary = ScanSummary()
        self._seen = 0
        self._retry: list[ReadOutcome] = []

    def run(self, roots: Iterable[str], all_roots: Iterable[str] = ()) -> ScanSummary:
        """Scan whole roots. Raises ``ScanInterrupted`` if asked to stop."""
        started = time.monotonic()
        roots = list(dict.fromkeys(roots))
        registered = set(all_roots) | set(roots)
        for root in roots:
            # Another registered root inside this one is scanned as itself.
            others = frozenset(r for r in registered if r != root and _inside(r, root))
            self._scan_root(root, others)
        self._retry_unsettled()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def scan_subtree(self, folder: str, root: str, all_roots: Iterable[str] = ()) -> ScanSummary:
        """Scan one folder inside ``root`` (a folder that just appeared)."""
        started = time.monotonic()
        others = frozenset(r for r in all_roots if r != root and _inside(r, folder))
        self._scan_root(root, others, start=folder)
        self._retry_unsettled()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def refresh(self, folders: Iterable[str]) -> ScanSummary:
        """Re-read these dispatch folders (each under a registered root)."""
        started = time.monotonic()
        roots = self.config.root_paths()
        pending = [
            _Pending(folder, next((r for r in roots if _inside(folder, r)), ""))
            for folder in folders
        ]
        self._read_and_apply(pending)
        self._retry_unsettled()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _scan_root(self, root: str, exclude: frozenset[str], start: str | None = None) -> None:
        top = start or root
        known = self.store.known_locations(top)
        if not os.path.isdir(top):
            if start is None:
                self.summary.errors.append(f"root is missing or not a folder: {root}")
            self._forget(list(known), root)
            return
        report = WalkReport()
        batch: list[_Pending] = []
        depth_left = self.config.max_depth - _depth_below(top, root)
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
                raise ScanInterrupted
            self._seen += 1
            if self.progress is not None:
                self.progress(self._seen)
            # Known folders are keyed as stored (a name that is not UTF-8, escaped).
            previous = known.pop(storable(found.folder), None)
            if previous is not None and previous.stat == found.stat:
                self.summary.unchanged += 1
                continue
            batch.append(_Pending(found.folder, root))
            if len(batch) >= self.config.batch_size:
                self._read_and_apply(batch)
                batch = []
        self._read_and_apply(batch)
        self.summary.inaccessible += len(report.inaccessible)
        for folder in report.inaccessible:
            self.summary.errors.append(f"cannot read folder: {folder}")
        # What is under a folder we could not list is unknown, not gone.
        gone = [p for p in known if not any(_inside(p, bad) for bad in report.inaccessible)]
        self._forget(gone, root)

    def _forget(self, paths: list[str], root: str) -> None:
        if not paths:
            return
        missing, reread = self.store.forget_locations(paths)
        self.summary.missing += missing
        # The copy shown is gone but another copy remains: show that one.
        self._read_and_apply([_Pending(folder, root) for folder in reread], count=False)

    def _read(self, batch: list[_Pending], settle_seconds: float) -> list[ReadOutcome]:
        tasks = [
            ReadTask(p.folder, p.root, self.source, settle_seconds, self.config.max_pickle_bytes)
            for p in batch
        ]
        return self.reader.read_many(tasks)

    def _read_and_apply(self, batch: list[_Pending], count: bool = True) -> None:
        if not batch:
            return
        outcomes = self._read(batch, self.config.settle_seconds)
        self._retry.extend(o for o in outcomes if o.transient)
        self._apply(outcomes, count)

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
        if wait > 0:
            self.sleep(wait)
        retry, self._retry = self._retry, []
        outcomes = self._read(
            [_Pending(o.record.path, o.record.root or "") for o in retry], settle_seconds=0
        )
        # Still changing under us: left for the next scan (or the watcher).
        self.summary.unsettled += sum(1 for o in outcomes if o.transient)
        self._apply(outcomes)


def _depth_below(path: str, root: str) -> int:
    if path == root:
        return 0
    return len(os.path.relpath(path, root).split(os.sep))


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")
