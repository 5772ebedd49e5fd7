"""The daemon: live capture of dispatches, with rescans as the backstop.

``Daemon`` has ``start()``, ``loop()`` (one iteration, ``now`` injectable),
``stop()`` and ``run()``, driven by a stop flag. Signal handlers only set
flags and watchdog callbacks only queue events; everything that reads folders
or writes the database happens in ``loop``, on one thread, so there is never
more than one writer and never a lock to reason about.

The loop sleeps until something is due: an event (each wakes it through a
socket pair), the next read, poll or timer, or a stop request (a signal writes to
the same socket), and at least once a second to notice a changed config file
or a vanished root. An idle daemon so wakes once a second, not five times.

Data flows one way: the watch backends (``watch``) queue events; ``routing``
turns them into folders to read and when (the daemon's ``Schedule``);
``capture`` reads the due ones through the reader processes and hands the
outcomes to the index's writer (``DispatchIndex.writer``); ``rescans`` is
the backstop, scanning whole roots. The rooms beside it answer questions and
keep state, and never call back: ``roots`` (watch modes, polling, rescan
backoff), ``database`` (the index file's health and rebuilds) and
``status`` (what is wrong, and the status file).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import signal
import threading
import time
from typing import Any

from ..index import DispatchIndex
from ..store import engine as db_mod
from . import trace
from .capture import Capture
from .database import DB_RETRY, DatabaseHealth
from .lock import InstanceLock
from .notify import Notifier
from .rescans import Rescans
from .retention import Retention
from .roots import Roots
from .routing import EventRouter
from .schedule import Schedule, Timers
from .servers import Servers
from .settle import settle_due
from .status import DegradedRegistry, StatusFile, daemon_status
from .tally import Tally
from .watch import (
    Backends,
    EventQueue,
)

log = logging.getLogger(__name__)

# Longest sleep with nothing due: how late a changed config file, a vanished
# root or the status file's refresh may be. Events, due work and stop
# requests wake the loop at once.
IDLE_WAKE = 1.0
STATUS_INTERVAL = 1.0
# Reader processes with nothing to read for this long are let go (read.pool).
READER_IDLE_SECONDS = 30.0
# How often the index is asked for folders another host wants read again
# (several machines on one index: see Store.reread_requests).
REREAD_CHECK_INTERVAL = 5.0
# How often the retention role looks whether its day has come.
RETENTION_CHECK_INTERVAL = 60.0
# At DEBUG, an iteration this long is logged: what holds the loop shows.
SLOW_ITERATION = 0.1


class Daemon:
    """Keeps one index current from its roots, on one thread, until stopped."""

    def __init__(self, index: DispatchIndex, *, clock: Any = time.monotonic) -> None:
        self.index = index
        # The daemon's way to write the index: engine errors come out raw,
        # for ``DatabaseHealth`` to tell a damaged file from a full disk.
        self.writer = index.writer()
        self.clock = clock
        self.events = EventQueue()
        self.backends = Backends(self.events, index.config.max_watches)
        self.lock = InstanceLock(index.paths)
        self.stop_requested = threading.Event()
        self.reload_requested = False
        self.degraded = DegradedRegistry()
        self.roots = Roots(self.backends, self.degraded, clock)
        self.database = DatabaseHealth(index, self.degraded, self.stop_requested.wait)
        self.work = Schedule()
        # Roles beside the loop (issue 15): notifications on threads of
        # their own, retention once a day, and the counts /metrics shows.
        self.notifier = Notifier(index)
        self.servers = Servers(
            self.writer,
            self.roots,
            self.degraded,
            clock,
            self.stop_requested.is_set,
            on_change=self.notifier.wake,
        )
        self.capture = Capture(
            index, self.roots, self.work, self.stop_requested, clock, self.servers
        )
        self.retention = Retention(index)
        self.tally = Tally()
        self.router = EventRouter(
            self.work,
            self.roots,
            self.backends,
            self.servers,
            self.tally,
            lambda: self.index.config.coalesce_seconds,
        )
        self.rescans = Rescans(
            self.capture,
            self.roots,
            self.database,
            self.tally,
            self.notifier,
            lambda: self.index.config,
            self.writer.sync_roots,
            clock,
        )
        self.started_at = dt.datetime.now(dt.timezone.utc)
        self._config_mtime: float | None = None
        self._next_status = 0.0
        self.status_file = StatusFile(index.paths.status_file)
        # The periodic roles: one ``add`` each (see ``Timers``).
        self.timers = Timers()
        self.timers.add("reread-requests", REREAD_CHECK_INTERVAL, self._check_reread_requests)
        # Once a day, and first once the startup scan is done (``Retention``
        # keeps the day; this only looks whether it has come).
        self.timers.add(
            "retention",
            RETENTION_CHECK_INTERVAL,
            lambda now: self.retention.run_due(now, first_scan_done=self.rescans.last is not None),
        )

    # ---- lifecycle ------------------------------------------------------

    def start(self) -> None:
        """Take the lock, watch the roots and catch up with the disk."""
        self.lock.acquire()  # raises AlreadyRunningError before touching anything
        log.info("daemon starting (pid %d), index %s", os.getpid(), db_mod.describe(self.index.url))
        try:
            self.database.start()
            self._config_mtime = self._config_file_mtime()
            self._sync_roots(scan=False)
            now = self.clock()
            self._write_status(now)
            # Watches go up as the scan walks, so nothing written meanwhile is lost.
            try:
                self.rescans.full(now, reason="start")
            except db_mod.engine_errors() as exc:
                # A full disk, a lock, a damaged file: the loop retries the scan.
                self._database_failed(exc, now)
            self.notifier.start()
            self._write_status(now)
            # A startup scan that found nothing to read started no reader;
            # the first live save must not wait for one to start.
            self.index.reader().warm()
        except BaseException:
            self.stop()
            raise

    def run(self) -> None:
        """start, loop until asked to stop, stop; signals stop it cleanly."""
        self._install_signal_handlers()
        self.start()
        try:
            while not self.stop_requested.is_set():
                self.loop()
        finally:
            self.stop()

    def request_stop(self) -> None:
        """Ask the loop to stop (from any thread): it wakes at once."""
        self.stop_requested.set()
        self.events.wakeup.notify()

    def stop(self) -> None:
        log.info("daemon stopping")
        self.backends.stop()
        self.notifier.stop()
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(-1)
        with contextlib.suppress(Exception):
            self._write_status(self.clock(), running=False)
        self.database.stop()
        self.lock.release()

    def database_rebuilt(self, why: str) -> None:
        """The index was recreated before start (``open_index_recovering``):
        say so in status, and refill it from the roots."""
        self.database.rebuilt_before_start(why)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        # Handlers only set flags: the loop notices between transactions, so
        # a stop never leaves a transaction half-written. The wake-up fd has
        # the interpreter write to the loop's socket as a signal arrives, which
        # ends its sleep (a handler must not take the locks a queue needs).
        def on_stop(signum: int, _frame: Any) -> None:
            self.stop_requested.set()

        def on_reload(signum: int, _frame: Any) -> None:
            self.reload_requested = True

        signal.set_wakeup_fd(self.events.wakeup.write_fd, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_reload)
        if hasattr(signal, "SIGXFSZ"):
            # Past a file size limit (ulimit -f) a write then fails with EFBIG,
            # which is retried like a full disk, instead of killing the daemon.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    # ---- one iteration --------------------------------------------------

    def loop(self, now: float | None = None) -> None:
        """Wait briefly for events, then do whatever is due."""
        injected = now is not None
        now = now if now is not None else self.clock()
        self._take_events(now)
        if not injected:
            now = self.clock()
        began = self.clock()
        try:
            self.database.check_connection()
            self._check_config(now)
            self.database.check_file(now)
            self._follow_database(now)
            self._check_roots(now)
            settle_due(self.work, now)
            self._process(now)
            self.capture.release_due(now)
            self.servers.run_due(now)
            self.timers.run_due(now)
            self.rescans.run_due(now)
            if self.index.reader().retire_idle(READER_IDLE_SECONDS):
                log.debug(
                    "reader processes idle %gs: let go, one fresh started", READER_IDLE_SECONDS
                )
            self.database.recovered()
            self._follow_database(self.clock())
            self.database.written()
            self.degraded.clear("error")
        except db_mod.engine_errors() as exc:
            self._database_failed(exc, now)
        except Exception as exc:  # the daemon outlives a bug in one iteration
            log.exception("unexpected error in the daemon's loop (will retry)")
            self.degraded.set("error", f"unexpected error, retrying: {type(exc).__name__}: {exc}")
            self.stop_requested.wait(DB_RETRY)
        if now >= self._next_status:
            self._write_status(now)
            self._next_status = now + STATUS_INTERVAL
        took = self.clock() - began
        if took > SLOW_ITERATION:
            log.debug("iteration took %.0f ms", took * 1000)

    def next_due(self) -> float | None:
        """The earliest time anything is due: reads, syncs, polls, timers, scans."""
        times = [
            self.work.next_due(),
            self.servers.next_due(),
            self.roots.next_due(),
            self.timers.next_due(),
            self.rescans.next_full,
        ]
        return min((t for t in times if t is not None), default=None)

    def _take_events(self, now: float) -> None:
        if self.stop_requested.is_set():
            return
        due = self.next_due()
        timeout = IDLE_WAKE if due is None else min(IDLE_WAKE, max(0.0, due - now))
        self.events.wait(timeout)
        slept = self.clock() - now
        taken = 0
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            taken += 1
            self.router.route(event, self.clock())
        trace.woke(slept, timeout, taken)

    # ---- reading and writing ----------------------------------------------

    def _process(self, now: float) -> None:
        trace.due_reads(self.work.read, now)
        ready = self.work.due(self.work.read, now)
        try:
            written = self.capture.read(ready, now)
        except BaseException:
            # Not done: all of it is tried again (a full disk, a lock...).
            for folder in ready:
                self.work.read_at(folder, now + DB_RETRY)
            raise
        if written:
            self.tally.captured(
                ((o.record.path, bool(o.record.unreadable)) for o in written), self.clock()
            )
        if ready:
            # Read, or scanned as a new folder: either may have written.
            self.notifier.wake()
            self.tally.settled(ready, self.work.read)
        gone = self.work.due(self.work.gone, now)
        if gone:
            try:
                self.capture.forget(gone)
            except BaseException:
                for folder in gone:
                    self.work.gone.setdefault(folder, now + DB_RETRY)
                raise

    # ---- the configuration, the roots, the database ---------------------------

    def _config_file_mtime(self) -> float | None:
        try:
            return self.index.paths.config_file.stat().st_mtime
        except OSError:
            return None

    def _check_config(self, now: float) -> None:
        mtime = self._config_file_mtime()
        if mtime == self._config_mtime and not self.reload_requested:
            return
        self._config_mtime = mtime
        self.reload_requested = False
        try:
            self.index.reload_config()
        except Exception as exc:  # noqa: BLE001 - a bad edit must not stop the daemon
            self.degraded.set("config", f"config not reloaded: {exc}")
            return
        self.degraded.clear("config")
        self.notifier.reload(self.index.config.notify)
        self._sync_roots(scan=True)

    def _sync_roots(self, scan: bool) -> None:
        config = self.index.config
        added = self.roots.sync(config.roots)
        self.servers.follow(config.roots, config.batch_size, config.poll_interval)
        if scan and added:
            self.rescans.scan(added, reason="added")

    def _check_roots(self, now: float) -> None:
        for root, reason in self.roots.appeared_or_vanished():
            self.rescans.scan([root], reason)

    def _check_reread_requests(self, now: float) -> None:
        """Read again the folders of ours that another host asked for: its
        copy of a dispatch vanished, and ours is the best one left."""
        for folder in self.writer.reread_requests():
            if self.roots.root_of(folder) is not None:
                self.work.read_at(folder, now)

    def _database_failed(self, exc: BaseException, now: float) -> None:
        self.database.failed(exc)
        self._follow_database(now)

    def _follow_database(self, now: float) -> None:
        """The database was rebuilt or came back: a full scan refills it or
        catches up with what happened meanwhile (retried until it succeeds)."""
        if self.database.full_scan_now:
            self.database.full_scan_now = False
            self.rescans.due_now(now)

    # ---- status -----------------------------------------------------------

    def status(self, running: bool = True) -> dict[str, Any]:
        """The daemon's own view, as its status file holds it."""
        report = daemon_status(
            running=running,
            started_at=self.started_at,
            url=self.index.url,
            watches=self.backends.count,
            roots=self.roots.to_json(),
            last_scan=self.rescans.last,
            degraded=self.degraded,
        )
        report.update(
            ingest=self.tally.to_json(),
            notifiers=self.notifier.to_json(),
            retention=self.retention.to_json(),
        )
        return report

    def _write_status(self, now: float, running: bool = True) -> None:
        self.status_file.write(self.status(running), now, force=not running)
