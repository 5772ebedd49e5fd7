"""Capture: the folders the daemon says are due, read and recorded.

Live reads go through the reader processes in one batch and their outcomes
to the index's writer in one transaction; a new folder without a result.pkl
(a dispatch about to be written, a tree moved in) and whole roots are
scanned. What is still being written is watched, and read again when it
changes. The capture decides nothing about time beyond its retries: those it
puts in the daemon's ``Schedule``, which never calls back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

from ..config import RootConfig
from ..index import DispatchIndex
from ..read.pool import ReadTask
from ..read.reader import RESULT_FILE, ReadOutcome, stat_of
from ..records import FINAL_STATUSES, DispatchRecord, FileStat, ScanSummary
from ..scan.scanner import ScanInterrupted, Scanner
from .roots import Roots, RootState
from .schedule import Schedule
from .servers import Servers, SyncInterrupted

log = logging.getLogger(__name__)


class Capture:
    """Reads and records for one daemon (on its one thread)."""

    def __init__(
        self,
        index: DispatchIndex,
        roots: Roots,
        schedule: Schedule,
        stop_requested: threading.Event,
        clock: Callable[[], float],
        servers: Servers,
    ) -> None:
        self.index = index
        self.writer = index.writer()
        self.roots = roots
        self.servers = servers
        self.schedule = schedule
        self.stop_requested = stop_requested
        self.clock = clock

    # ---- live reads ---------------------------------------------------------

    def read(self, ready: list[str], now: float) -> list[ReadOutcome]:
        """Read these folders and record what they hold: one batch through
        the reader processes, a scan for a folder with no result.pkl yet.
        The outcomes written (for the daemon's counts and notifications)."""
        tasks: list[ReadTask] = []
        config = self.index.config
        for folder in ready:
            root = self.roots.root_of(folder)
            if root is None or root.kind != "results":
                # A server's data dir is synced from its database (``servers``).
                continue
            if not os.path.isdir(folder):
                self.schedule.gone_at(folder, now)
            elif not os.path.exists(os.path.join(folder, RESULT_FILE)):
                self.new_folder(folder, root, now)
            else:
                tasks.append(
                    ReadTask(
                        folder, root.path, "watch", config.settle_seconds, config.max_pickle_bytes
                    )
                )
        debug = log.isEnabledFor(logging.DEBUG)
        if debug and tasks:
            log.debug("read start: %s", ", ".join(t.folder for t in tasks))
        began = time.monotonic()
        read = self.index.reader().read_many(tasks)
        if debug and read:
            _log_reads(read, (time.monotonic() - began) * 1000)
        outcomes = [o for o in read if self._settled(o, now)]
        if outcomes:
            began = time.monotonic()
            result = self.writer.apply(outcomes)
            if debug:
                log.debug(
                    "write committed in %.1f ms (%d new, %d updated): %s",
                    (time.monotonic() - began) * 1000,
                    result.new,
                    result.updated,
                    ", ".join(f"{o.record.dispatch_id} {o.record.status}" for o in outcomes),
                )
            for outcome in outcomes:
                self._settle_watch(outcome, now)
        return outcomes

    def _settled(self, outcome: ReadOutcome, now: float) -> bool:
        """False for a file caught mid-write, which is then read again later."""
        folder = outcome.record.path
        if not outcome.transient:
            self.schedule.attempts.pop(folder, None)
            return True
        # The writer's close will bring us back; this retry is the backstop
        # for writers that never close.
        attempts = self.schedule.attempts.get(folder, 0) + 1
        self.schedule.attempts[folder] = attempts
        root = self.roots.root_of(folder)
        if root is not None:
            self.roots.ensure_watched(folder, root)
        delay = min(self.index.config.settle_seconds, 0.05 * 2**attempts)
        log.debug(
            "read %s again in %.0f ms (attempt %d: %s)",
            folder,
            delay * 1000,
            attempts,
            outcome.record.unreadable,
        )
        self.schedule.read_at(folder, now + delay)
        return False

    def new_folder(self, folder: str, root: RootState, now: float) -> None:
        """A folder without result.pkl appeared: a dispatch folder about to be
        written, or a whole tree moved or copied in. Watch it; scan a tree."""
        if self.roots.too_deep(folder, root, self.index.config.max_depth):
            return
        if not _has_subfolders(folder):
            # A dispatch folder about to be written (Covalent makes it, then
            # writes result.pkl): its close brings the read. Not scanned: a
            # scan that finds result.pkl mid-write waits for it to settle
            # (up to settle_seconds) on the loop's thread, and every other
            # dispatch's read waits with it (issue 16).
            self.roots.ensure_watched(folder, root)
            if os.path.exists(os.path.join(folder, RESULT_FILE)):
                # Written since: its close may have come before the watch.
                log.debug("new folder %s: result.pkl already there, read it", folder)
                self.schedule.read_at(folder, now)
            else:
                log.debug("new folder %s: watched, its result.pkl awaited", folder)
            return
        # Found because the watch saw the folder appear: a live capture.
        scanner = self._scanner(root, source="watch")
        began = time.monotonic()
        try:
            scanner.scan_subtree(folder, root.path, self.roots.paths())
        except ScanInterrupted:
            return
        log.debug("new folder %s scanned in %.1f ms", folder, (time.monotonic() - began) * 1000)
        self._watch_unsettled(root, under=folder)

    def _settle_watch(self, outcome: ReadOutcome, now: float) -> None:
        record = outcome.record
        root = self.roots.root_of(record.path)
        if root is None:
            return
        self.roots.ensure_watched(record.path, root)
        if record.status in FINAL_STATUSES and record.unreadable is None:
            # Finished, but not necessarily done with: Covalent 0.110 writes
            # the final result.pkl again a few milliseconds later (the last
            # task's callback and the workflow's own final save race on
            # their threads), then result_info.yaml. The watch is kept until
            # the file has held still for the settle window, then freed.
            self.schedule.release_at(
                record.path, now + self.index.config.settle_seconds, _read_stat(record)
            )
        else:
            self.schedule.keep_watch(record.path)
        # Written again between our read and the watch: read it again.
        with contextlib.suppress(OSError):
            if stat_of(os.stat(os.path.join(record.path, RESULT_FILE))) != _read_stat(record):
                self.schedule.read_at(record.path, self.clock())

    def release_due(self, now: float) -> None:
        """Free the watches of finished dispatches whose result.pkl held
        still since it was read; read again the ones that changed."""
        for folder in self.schedule.due(self.schedule.release, now):
            read = self.schedule.released_stat.pop(folder, None)
            try:
                current: FileStat | None = stat_of(os.stat(os.path.join(folder, RESULT_FILE)))
            except OSError:
                current = None
            if current is not None and current != read:
                log.debug("release %s: changed since its read, read again", folder)
                self.schedule.read_at(folder, now)
                continue
            # Finished and still: a later rewrite is caught by the parent's
            # events or the rescan.
            log.debug("release %s: finished and still, watch freed", folder)
            self.roots.release(folder)

    def forget(self, folders: list[str]) -> None:
        """These folders are gone (unless they came back): their records
        are missing now, or show another copy, which is read again."""
        paths: list[str] = []
        for folder in folders:
            if os.path.isdir(folder) and os.path.exists(os.path.join(folder, RESULT_FILE)):
                continue  # it came back (a rename back, a rewrite)
            root = self.roots.root_of(folder)
            if root is not None and root.kind != "results":
                continue  # the server sync marks its own vanished folders
            paths.extend(self.writer.known_locations(folder))
        if not paths:
            return
        missing, reread = self.writer.forget_locations(paths)
        if missing:
            log.info("%d dispatch(es) no longer on disk, marked missing", missing)
        for folder in reread:
            self.schedule.read_at(folder, self.clock())

    # ---- scans --------------------------------------------------------------

    def scan(self, roots: list[RootState], full: bool = True) -> ScanSummary:
        """Scan whole roots, then watch what is still being written there; a
        server's root is synced from its database, whole unless ``full`` is
        False (a poll). Raises ``ScanInterrupted`` if the daemon is asked to stop."""
        servers = [r for r in roots if r.kind == "covalent-data"]
        others = [r for r in roots if r.kind != "covalent-data"]
        summary = ScanSummary()
        if others:
            summary = self.writer.scan_roots(
                self.index.config,
                [r.path for r in others],
                self.roots.paths(),
                self._scanner,
                should_stop=self.stop_requested.is_set,
                on_server=self._server_synced,
            )
        for root in servers:
            try:
                summary.add(self.servers.sync(root, full=full))
            except SyncInterrupted:
                raise ScanInterrupted from None
        for root in others:
            if root.kind == "results":
                self._watch_unsettled(root)
        return summary

    def _server_synced(self, root: RootConfig, summary: ScanSummary) -> None:
        # A folder inside a server's data dir, registered as a results root,
        # is synced as its whole server (``scan.kinds``): reported as one.
        self.servers.report(root, summary)

    def _scanner(self, root: RootState | None = None, source: str = "scan") -> Scanner:
        def on_folder(folder: str) -> None:
            self.roots.watch_found(folder, root)

        def defer_unsettled(folders: list[str], seconds: float) -> None:
            due = self.clock() + seconds
            for folder in folders:
                self.schedule.read_at(folder, due)

        return self.writer.scanner(
            self.index.config,
            source=source,
            should_stop=self.stop_requested.is_set,
            on_folder=on_folder,
            defer_unsettled=defer_unsettled,
            # Scans read in the worker processes too, bounded like every
            # other read: a hostile file found by a scan must not cost the
            # daemon, and a startup scan parses on every core.
            reader=self.index.reader(),
        )

    def _watch_unsettled(self, root: RootState, under: str | None = None) -> None:
        if root.mode == "polling":
            return
        unsettled = self.writer.unsettled_paths(under or root.path)
        # A scan reads a dispatch folder before it is watched (a finished one
        # never is): one rewritten in between (RUNNING, then COMPLETED) sent
        # its events to no watch. Now that the watch is up, compare.
        for folder in self.roots.watch_unsettled(root, unsettled):
            self._read_if_changed(folder)

    def _read_if_changed(self, folder: str) -> None:
        try:
            current = stat_of(os.stat(os.path.join(folder, RESULT_FILE)))
        except OSError:
            return
        known = self.writer.known_locations(folder).get(folder)
        if known is None or known.stat != current:
            self.schedule.read_at(folder, self.clock())


def _log_reads(outcomes: list[ReadOutcome], ms: float) -> None:
    """One DEBUG line per read: what it found, how old the file was then."""
    wall = time.time()
    for outcome in outcomes:
        record = outcome.record
        age = f"{(wall - record.mtime_ns / 1e9) * 1000:.0f} ms" if record.mtime_ns else "-"
        found = record.status if outcome.ok else f"unreadable ({record.unreadable})"
        log.debug(
            "read end %s: %s%s, file written %s before, batch of %d in %.1f ms",
            record.path,
            found,
            ", mid-write" if outcome.transient else "",
            age,
            len(outcomes),
            ms,
        )


def _read_stat(record: DispatchRecord) -> FileStat:
    """The result.pkl a read found, as ``stat_of`` gives a file now."""
    return FileStat(size=record.size, mtime_ns=record.mtime_ns, inode=record.inode)


def _has_subfolders(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.is_dir(follow_symlinks=False) for e in entries)
    except OSError:
        return False
