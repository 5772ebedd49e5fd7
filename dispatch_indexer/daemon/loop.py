"""The daemon: live capture of dispatches, with rescans as the backstop.

``Daemon`` has ``start()``, ``loop()`` (one iteration, ``now`` injectable),
``stop()`` and ``run()``, driven by a stop flag. Signal handlers only set
flags and watchdog callbacks only queue events; everything that reads folders
or writes the database happens in ``loop``, on one thread, so there is never
more than one writer and never a lock to reason about.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import queue
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import config as config_mod
from .. import paths as paths_mod
from ..errors import DatabaseError
from ..index import DispatchIndex
from ..paths import depth_below, is_within
from ..read.pool import ReadTask
from ..read.reader import INFO_FILE, RESULT_FILE, ReadOutcome, stat_of
from ..records import FINAL_STATUSES
from ..scan.scanner import ScanInterrupted, Scanner
from ..store import engine as db_mod
from ..store.sqlite import health as dbfile
from ..store.sqlite.checkpoint import Checkpointer
from .fsinfo import wants_polling
from .lock import InstanceLock, running_pid, write_private
from .watcher import (
    CLOSED,
    CREATED,
    DELETED,
    GONE,
    MOVED_FROM,
    MOVED_TO,
    OVERFLOW,
    FsEvent,
    NativeWatcher,
    WatchLimitError,
)

log = logging.getLogger(__name__)

# Longest wait for events in one iteration: bounds how late a stop is seen.
TICK = 0.2
# How often the database file is checked for having been deleted or replaced.
DB_CHECK_INTERVAL = 2.0
STATUS_INTERVAL = 1.0
# Reader processes with nothing to read for this long are let go (readpool).
READER_IDLE_SECONDS = 30.0
# Rescans triggered by lost events back off so a storm cannot loop them.
BACKOFF_MIN = 1.0
BACKOFF_MAX = 300.0
# A write that keeps failing is retried this often.
DB_RETRY = 1.0
# How often the index is asked for folders another host wants read again
# (several machines on one index: see Store.reread_requests).
REREAD_CHECK_INTERVAL = 5.0
# The degraded entry of a lost connection to a database server.
DB_CONNECTION = "database-connection"


@dataclass
class RootState:
    path: str
    configured: str
    mode: str  # "native" or "polling"
    exists: bool = True
    problem: str | None = None
    next_poll: float = 0.0
    rescan_at: float | None = None
    backoff: float = BACKOFF_MIN
    last_trigger: float = 0.0


@dataclass
class Degraded:
    what: str
    since: str
    detail: str = ""


@dataclass
class _Work:
    """Folders to read, folders gone, and when each is due."""

    read: dict[str, float] = field(default_factory=dict)
    gone: dict[str, float] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)

    def due(self, table: dict[str, float], now: float) -> list[str]:
        ready = [path for path, at in table.items() if at <= now]
        for path in ready:
            del table[path]
        return ready

    def next_due(self) -> float | None:
        times = list(self.read.values()) + list(self.gone.values())
        return min(times) if times else None


class Daemon:
    def __init__(self, index: DispatchIndex, *, clock: Any = time.monotonic) -> None:
        self.index = index
        # The daemon's way to write the index: engine errors come out raw,
        # for it to tell a damaged file from a full disk.
        self.writer = index.writer()
        self.clock = clock
        self.events: queue.Queue[FsEvent] = queue.Queue()
        self.watcher = NativeWatcher(self.events, index.config.max_watches)
        self.lock = InstanceLock(index.paths)
        self.stop_requested = threading.Event()
        self.reload_requested = False
        self.roots: dict[str, RootState] = {}
        self.work = _Work()
        self.degraded: dict[str, Degraded] = {}
        self.started_at = dt.datetime.now(dt.timezone.utc)
        self.last_scan: dict[str, Any] | None = None
        self.next_full_scan = 0.0
        self._config_mtime: float | None = None
        self._db_identity: tuple[int, int] | None = None
        # A descriptor on the SQLite file for looking at its header: opened
        # once per file, because closing any descriptor on it would drop the
        # POSIX locks that this process's SQLite connection holds there.
        self._probe: int | None = None
        self._next_db_check = 0.0
        self._next_reread_check = 0.0
        self._next_status = 0.0
        self._refill = False
        self.checkpointer: Checkpointer | None = None

    # ---- lifecycle ------------------------------------------------------

    def start(self) -> None:
        """Take the lock, watch the roots and catch up with the disk."""
        self.lock.acquire()  # raises AlreadyRunningError before touching anything
        log.info("daemon starting (pid %d), index %s", os.getpid(), db_mod.describe(self.index.url))
        try:
            self.watcher.start()
            self._start_checkpointer()
            self._config_mtime = self._config_file_mtime()
            self._db_identity = self._database_identity()
            self._open_probe()
            self._sync_roots(scan=False)
            now = self.clock()
            self._write_status(now)
            # Watches go up as the scan walks, so nothing written meanwhile is lost.
            try:
                self._full_scan(now, reason="start")
            except db_mod.engine_errors() as exc:
                # A full disk, a lock, a damaged file: the loop retries the scan.
                self._database_failed(exc, now)
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
        self.stop_requested.set()

    def stop(self) -> None:
        log.info("daemon stopping")
        self.watcher.stop()
        with contextlib.suppress(Exception):
            self._write_status(self.clock(), running=False)
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.index.close()
        self._close_probe()
        self.lock.release()

    def _start_checkpointer(self) -> None:
        """On SQLite, move WAL checkpoints off the path of every write
        (``checkpoint``)."""
        if not db_mod.is_sqlite(self.index.url):
            return
        self.writer.defer_checkpoints()
        self.checkpointer = Checkpointer(db_mod.sqlite_path(self.index.url))
        self.checkpointer.start()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        # Handlers only set flags: the loop notices within one TICK, between
        # transactions, so a stop never leaves a transaction half-written.
        def on_stop(signum: int, _frame: Any) -> None:
            self.stop_requested.set()

        def on_reload(signum: int, _frame: Any) -> None:
            self.reload_requested = True

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
        try:
            self._check_connection()
            self._check_config(now)
            self._check_database(now)
            self._check_roots(now)
            self._check_reread_requests(now)
            self._process(now)
            self._rescans(now)
            self.index.reader().retire_idle(READER_IDLE_SECONDS)
            if self.degraded.pop(DB_CONNECTION, None) is not None:
                # Whatever happened meanwhile is found by a rescan.
                log.info("reconnected to the database server; rescanning to catch up")
                self.next_full_scan = self.clock()
            if self.degraded.pop("database-write", None) is not None:
                # Whatever failed meanwhile is found by a rescan.
                log.info("writing the index works again; rescanning to catch up")
                self.next_full_scan = self.clock()
            self.degraded.pop("error", None)
        except db_mod.engine_errors() as exc:
            self._database_failed(exc, now)
        except Exception as exc:  # the daemon outlives a bug in one iteration
            log.exception("unexpected error in the daemon's loop (will retry)")
            self._degrade("error", f"unexpected error, retrying: {type(exc).__name__}: {exc}")
            self.stop_requested.wait(DB_RETRY)
        if now >= self._next_status:
            self._write_status(now)
            self._next_status = now + STATUS_INTERVAL

    def _take_events(self, now: float) -> None:
        due = self.work.next_due()
        timeout = TICK if due is None else min(TICK, max(0.0, due - now))
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._on_event(event, self.clock())
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return

    def _on_event(self, event: FsEvent, now: float) -> None:
        if event.kind == OVERFLOW:
            for state in self.roots.values():
                if state.mode == "native":
                    self._request_rescan(state, now, "inotify queue overflow: events were lost")
            return
        path = event.path
        if event.kind == GONE:
            if path in self.roots:
                return  # noticed by _check_roots
            self._mark_gone(path, now)
            return
        name = os.path.basename(path)
        if name.startswith("."):
            return
        folder = os.path.dirname(path)
        coalesce = self.index.config.coalesce_seconds
        if event.is_dir:
            if event.kind in (CREATED, MOVED_TO):
                # Looked at once: a new dispatch folder must be watched before
                # its writer closes result.pkl, or that close is not seen.
                self.work.gone.pop(path, None)
                self._schedule(path, now)
            elif event.kind in (DELETED, MOVED_FROM):
                self._mark_gone(path, now)
            return
        if name not in (RESULT_FILE, INFO_FILE):
            return
        if event.kind in (CLOSED, MOVED_TO):
            # The writer closed the file: it is whole now, read it at once.
            self._schedule(folder, now)
        elif event.kind == CREATED:
            # A close will follow; this is only the backstop if it never does.
            self._schedule(folder, now + max(coalesce, 1.0))
        elif event.kind in (DELETED, MOVED_FROM) and name == RESULT_FILE:
            self._schedule(folder, now + coalesce)

    def _schedule(self, folder: str, at: float) -> None:
        current = self.work.read.get(folder)
        if current is None or at < current:
            self.work.read[folder] = at

    def _mark_gone(self, path: str, now: float) -> None:
        self.watcher.unwatch_under(path)
        # Held back by the coalescing window: a rename shows up as gone here
        # and new there, and the new one should be read first.
        self.work.gone[path] = now + self.index.config.coalesce_seconds

    # ---- reading and writing ----------------------------------------------

    def _process(self, now: float) -> None:
        ready = self.work.due(self.work.read, now)
        try:
            self._read_ready(ready, now)
        except BaseException:
            # Not done: all of it is tried again (a full disk, a lock...).
            for folder in ready:
                self._schedule(folder, now + DB_RETRY)
            raise
        gone = self.work.due(self.work.gone, now)
        if gone:
            try:
                self._forget(gone)
            except BaseException:
                for folder in gone:
                    self.work.gone.setdefault(folder, now + DB_RETRY)
                raise

    def _read_ready(self, ready: list[str], now: float) -> None:
        tasks: list[ReadTask] = []
        config = self.index.config
        for folder in ready:
            root = self._root_of(folder)
            if root is None:
                continue
            if not os.path.isdir(folder):
                self.work.gone[folder] = now
            elif not os.path.exists(os.path.join(folder, RESULT_FILE)):
                self._new_folder(folder, root, now)
            else:
                tasks.append(
                    ReadTask(
                        folder, root.path, "watch", config.settle_seconds, config.max_pickle_bytes
                    )
                )
        outcomes = [o for o in self.index.reader().read_many(tasks) if self._settled(o, now)]
        if outcomes:
            self.writer.apply(outcomes)
            for outcome in outcomes:
                self._settle_watch(outcome)

    def _settled(self, outcome: ReadOutcome, now: float) -> bool:
        """False for a file caught mid-write, which is then read again later."""
        folder = outcome.record.path
        if not outcome.transient:
            self.work.attempts.pop(folder, None)
            return True
        # The writer's close will bring us back; this retry is the backstop
        # for writers that never close.
        attempts = self.work.attempts.get(folder, 0) + 1
        self.work.attempts[folder] = attempts
        root = self._root_of(folder)
        if root is not None:
            self._ensure_watched(folder, root)
        delay = min(self.index.config.settle_seconds, 0.05 * 2**attempts)
        self._schedule(folder, now + delay)
        return False

    def _new_folder(self, folder: str, root: RootState, now: float) -> None:
        """A folder without result.pkl appeared: a dispatch folder about to be
        written, or a whole tree moved or copied in. Watch it, then scan it."""
        if self._too_deep(folder, root):
            return
        scanner = self._scanner(root)
        try:
            scanner.scan_subtree(folder, root.path, self.roots)
        except ScanInterrupted:
            return
        self._watch_unsettled(root, under=folder)

    def _settle_watch(self, outcome: ReadOutcome) -> None:
        record = outcome.record
        root = self._root_of(record.path)
        if root is None:
            return
        if record.status in FINAL_STATUSES and record.unreadable is None:
            # Finished: nothing will change here, so free the watch. A later
            # rewrite is caught by the parent's events or the rescan.
            self.watcher.unwatch(record.path)
            return
        self._ensure_watched(record.path, root)
        # Written again between our read and the watch: read it again.
        with contextlib.suppress(OSError):
            st = os.stat(os.path.join(record.path, RESULT_FILE))
            if (st.st_size, st.st_mtime_ns, st.st_ino) != (
                record.size,
                record.mtime_ns,
                record.inode,
            ):
                self._schedule(record.path, self.clock())

    def _forget(self, folders: list[str]) -> None:
        paths: list[str] = []
        for folder in folders:
            if os.path.isdir(folder) and os.path.exists(os.path.join(folder, RESULT_FILE)):
                continue  # it came back (a rename back, a rewrite)
            paths.extend(self.writer.known_locations(folder))
        if not paths:
            return
        missing, reread = self.writer.forget_locations(paths)
        if missing:
            log.info("%d dispatch(es) no longer on disk, marked missing", missing)
        for folder in reread:
            self._schedule(folder, self.clock())

    # ---- roots, watches, rescans ------------------------------------------

    def _root_of(self, path: str) -> RootState | None:
        best = None
        for root in self.roots.values():
            if is_within(path, root.path) and (best is None or len(root.path) > len(best.path)):
                best = root
        return best

    def _too_deep(self, folder: str, root: RootState) -> bool:
        return depth_below(folder, root.path) > self.index.config.max_depth

    def _scanner(self, root: RootState | None = None) -> Scanner:
        def on_folder(folder: str) -> None:
            state = root or self._root_of(folder)
            if state is not None:
                self._ensure_watched(folder, state)

        return self.writer.scanner(
            self.index.config,
            source="scan",
            should_stop=self.stop_requested.is_set,
            on_folder=on_folder,
            sleep=self.stop_requested.wait,
            # Scans read in the worker processes too, bounded like every
            # other read: a hostile file found by a scan must not cost the
            # daemon, and a startup scan parses on every core.
            reader=self.index.reader(),
        )

    def _ensure_watched(self, folder: str, root: RootState) -> None:
        if root.mode != "native" or self.watcher.is_watched(folder):
            return
        try:
            self.watcher.watch(folder)
        except WatchLimitError as exc:
            self._to_polling(root, f"could not add a watch ({exc.strerror}); polling instead")
        except OSError as exc:
            # A path too long for inotify (past PATH_MAX), say: rescans
            # still look there, and one folder must not stop the daemon.
            log.warning("%s: cannot watch: %s", folder, exc.strerror or exc)

    def _to_polling(self, root: RootState, why: str) -> None:
        if root.mode == "polling":
            return
        log.warning("%s: %s", root.path, why)
        root.mode = "polling"
        root.problem = why
        root.next_poll = self.clock()
        # Free this root's watches so that the other roots keep theirs.
        self.watcher.unwatch_under(root.path)
        self._degrade(f"watch:{root.path}", why)

    def _watch_unsettled(self, root: RootState, under: str | None = None) -> None:
        if root.mode != "native":
            return
        fresh = []
        for folder in self.writer.unsettled_paths(under or root.path):
            if not self.watcher.is_watched(folder):
                self._ensure_watched(folder, root)
                fresh.append(folder)
        # A scan reads a dispatch folder before it is watched (a finished one
        # never is): one rewritten in between (RUNNING, then COMPLETED) sent
        # its events to no watch. Now that the watch is up, compare.
        for folder in fresh:
            self._read_if_changed(folder)

    def _read_if_changed(self, folder: str) -> None:
        try:
            current = stat_of(os.stat(os.path.join(folder, RESULT_FILE)))
        except OSError:
            return
        known = self.writer.known_locations(folder).get(folder)
        if known is None or known.stat != current:
            self._schedule(folder, self.clock())

    def _request_rescan(self, root: RootState, now: float, why: str) -> None:
        if root.rescan_at is not None:
            return  # one is already due
        # Back off when triggers keep coming; relax after a quiet spell.
        if now - root.last_trigger > BACKOFF_MAX:
            root.backoff = BACKOFF_MIN
        root.rescan_at = max(now, root.last_trigger + root.backoff)
        root.last_trigger = root.rescan_at
        root.backoff = min(root.backoff * 2, BACKOFF_MAX)
        log.warning("%s: %s; rescanning", root.path, why)
        self._degrade(f"events:{root.path}", why)

    def _rescans(self, now: float) -> None:
        if now >= self.next_full_scan:
            self._full_scan(now, reason="periodic")
            return
        for root in list(self.roots.values()):
            if root.rescan_at is None and now - root.last_trigger > BACKOFF_MAX:
                # Quiet for a while since the last lost events: no longer news.
                self.degraded.pop(f"events:{root.path}", None)
            due_poll = root.mode == "polling" and root.exists and now >= root.next_poll
            due_rescan = root.rescan_at is not None and now >= root.rescan_at
            if due_poll or due_rescan:
                root.rescan_at = None
                root.next_poll = now + self.index.config.poll_interval
                self._scan_roots([root], now, reason="rescan" if due_rescan else "poll")

    def _full_scan(self, now: float, reason: str) -> None:
        if self._refill:
            self.writer.sync_roots(self.index.config.roots)
            reason = "database recreated"
        self._scan_roots(list(self.roots.values()), now, reason=reason, full=True)
        self._refill = False
        self.next_full_scan = self.clock() + self.index.config.rescan_interval

    def _scan_roots(
        self, roots: list[RootState], now: float, reason: str, full: bool = False
    ) -> None:
        if not roots:
            if full:
                self.last_scan = {"time": _utcnow_iso(), "reason": reason, "summary": None}
            return
        started = _utcnow_iso()
        scanner = self._scanner()
        try:
            summary = scanner.run([r.path for r in roots], self.roots)
        except ScanInterrupted:
            return
        for root in roots:
            self._watch_unsettled(root)
        if summary.new or summary.updated or summary.missing:
            log.info("%s scan: %s", reason, summary.line())
        if full:
            self.last_scan = {"time": started, "reason": reason, "summary": summary.to_json()}

    # ---- configuration, roots and the database file -----------------------

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
            self._degrade("config", f"config not reloaded: {exc}")
            return
        self.degraded.pop("config", None)
        self._sync_roots(scan=True)

    def _sync_roots(self, scan: bool) -> None:
        wanted = {r.path: r for r in self.index.config.roots}
        for path in list(self.roots):
            if path not in wanted:
                log.info("no longer watching %s", path)
                self.watcher.unwatch_under(path)
                del self.roots[path]
                for key in [k for k in self.degraded if k.endswith(f":{path}")]:
                    del self.degraded[key]
        added = []
        for path, root in wanted.items():
            state = self.roots.get(path)
            if state is not None and state.configured == root.watch:
                continue
            if state is not None:
                self.watcher.unwatch_under(path)
            mode = root.watch
            if mode == "auto":
                mode = "polling" if wants_polling(path) else "native"
            state = RootState(
                path=path, configured=root.watch, mode=mode, exists=os.path.isdir(path)
            )
            self.roots[path] = state
            added.append(state)
            log.info("watching %s (%s)", path, mode)
        if scan and added:
            self._scan_roots(added, self.clock(), reason="added")

    def _check_roots(self, now: float) -> None:
        for root in self.roots.values():
            exists = os.path.isdir(root.path)
            if exists == root.exists:
                continue
            root.exists = exists
            if not exists:
                # Unmounted or deleted: what was there is missing until it returns.
                self._degrade(f"root:{root.path}", "results directory is gone")
                self.watcher.unwatch_under(root.path)
                self._scan_roots([root], now, reason="root gone")
            else:
                log.info("%s is back", root.path)
                self.degraded.pop(f"root:{root.path}", None)
                self._scan_roots([root], now, reason="root back")

    def _database_identity(self) -> tuple[int, int] | None:
        if not db_mod.is_sqlite(self.index.url):
            return None
        try:
            st = os.stat(db_mod.sqlite_path(self.index.url))
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def _check_database(self, now: float) -> None:
        if now < self._next_db_check or not db_mod.is_sqlite(self.index.url):
            return
        self._next_db_check = now + DB_CHECK_INTERVAL
        identity = self._database_identity()
        if identity is not None and identity == self._db_identity:
            # Overwritten or truncated in place: SQLite may go on writing to
            # its cached pages for a long time before it trips over it.
            suspicion = dbfile.header_problem(self._probe) if self._probe is not None else None
            if suspicion is not None:
                self._verify_database(now, suspicion)
            return
        # Deleted or replaced under us: SQLite would go on writing to the
        # unlinked file. Open the path again and refill it from the roots.
        what = "deleted" if identity is None else "replaced"
        log.warning("the index database was %s; recreating it", what)
        self._reopen_database(now, f"the index database was {what}; rebuilt it")

    def _database_path(self) -> Path:
        return db_mod.sqlite_path(self.index.url)

    def _open_probe(self) -> None:
        """Only while this process's connection to the file is open (or
        about to be): see ``_probe``."""
        if self._probe is not None or not db_mod.is_sqlite(self.index.url):
            return
        with contextlib.suppress(OSError):
            self._probe = os.open(self._database_path(), os.O_RDONLY | os.O_CLOEXEC)

    def _close_probe(self) -> None:
        """Only once this process's connection to the file is closed."""
        if self._probe is not None:
            with contextlib.suppress(OSError):
                os.close(self._probe)
            self._probe = None

    def _database_failed(self, exc: BaseException, now: float) -> None:
        """A database error in an iteration: a damaged file is moved aside
        and rebuilt; anything else (a lock held too long, a full disk) is
        reported and retried."""
        if db_mod.connection_lost(exc):
            self._connection_lost(exc)
            return
        # SQLite rolls back by itself after some errors (a full disk): the
        # ROLLBACK that follows then fails, hiding the error that matters.
        while "no transaction is active" in str(exc) and isinstance(
            exc.__context__, db_mod.engine_errors()
        ):
            exc = exc.__context__
        kind = dbfile.classify(exc)
        if kind in (dbfile.CORRUPT, dbfile.SCHEMA) and db_mod.is_sqlite(self.index.url):
            if self._verify_database(now, str(exc)):
                return
            if kind == dbfile.SCHEMA:
                self._reopen_database(now, f"the index lost its tables ({exc}); rebuilt it")
                return
        if kind == dbfile.LOCKED:
            detail = f"the index database is locked by another process, retrying: {exc}"
        else:
            detail = f"writing the index failed, retrying: {exc}"
        self._degrade("database-write", detail)
        log.warning("%s", detail)
        self.stop_requested.wait(DB_RETRY)

    def _connection_lost(self, exc: BaseException) -> None:
        """The database server is gone (restarting, unreachable): keep
        running, reconnect every DB_RETRY and rescan once it answers."""
        detail = f"lost the connection to the database server, reconnecting: {exc}".strip()
        if DB_CONNECTION not in self.degraded:
            log.warning("%s", detail)
        self._degrade(DB_CONNECTION, detail)
        # Dropped from this process's pool; the next statement opens another.
        self.writer.drop_connection()
        self.stop_requested.wait(DB_RETRY)

    def _check_connection(self) -> None:
        """While the server is gone, one cheap statement says whether it is
        back, before anything else is tried (and a quiet iteration is not
        taken for a reconnection)."""
        if DB_CONNECTION in self.degraded:
            self.writer.ping()

    def _check_reread_requests(self, now: float) -> None:
        """Read again the folders of ours that another host asked for: its
        copy of a dispatch vanished, and ours is the best one left."""
        if now < self._next_reread_check:
            return
        self._next_reread_check = now + REREAD_CHECK_INTERVAL
        for folder in self.writer.reread_requests():
            if self._root_of(folder) is not None:
                self._schedule(folder, now)

    def _verify_database(self, now: float, suspicion: str) -> bool:
        """Confirm a suspicion with ``PRAGMA quick_check``; a corrupt file is
        moved aside and the index rebuilt. Whether it was corrupt."""
        problem = dbfile.quick_check(self._database_path())
        if problem is None:
            return False
        log.error("the index database is corrupt (%s: %s)", suspicion, problem)
        self._set_aside_and_rebuild(now, f"the index database was corrupt ({problem})")
        return True

    def _set_aside_and_rebuild(self, now: float, why: str) -> None:
        path = self._database_path()
        try:
            # Renamed before our connection closes, so that closing it cannot
            # fold the -wal into the damaged file or delete it.
            aside = dbfile.set_aside(path)
        except OSError as exc:
            self._degrade("database", f"{why}; could not move it aside: {exc}")
            return
        log.warning("moved the damaged index aside to %s", aside)
        self._reopen_database(
            now,
            f"{why}; moved it aside to {aside.name} and rebuilt the index from the "
            "results directories",
            set_aside=False,
        )

    def _reopen_database(self, now: float, why: str, set_aside: bool = True) -> None:
        self.writer.close()
        self._close_probe()
        try:
            self.index.reopen()
        except DatabaseError as exc:
            # Replaced by something that is not a database, say.
            problem = dbfile.quick_check(self._database_path()) if set_aside else None
            if problem is not None:
                self._set_aside_and_rebuild(now, f"the index database was corrupt ({problem})")
                return
            self._degrade("database", f"cannot reopen the index: {exc}")
            return
        if self.checkpointer is not None:
            self.writer.defer_checkpoints()
        self._db_identity = self._database_identity()
        self._open_probe()
        self._degrade("database", why)
        # Refilled by the next full scan, which _rescans retries until it succeeds.
        self._refill = True
        self.next_full_scan = now

    def database_rebuilt(self, why: str) -> None:
        """The index was recreated before start (``open_index_recovering``):
        say so in status, and refill it from the roots."""
        self._degrade("database", why)
        self._refill = True

    def _degrade(self, key: str, detail: str) -> None:
        if key not in self.degraded:
            self.degraded[key] = Degraded(
                what=key.split(":")[0], since=_utcnow_iso(), detail=detail
            )
        else:
            self.degraded[key].detail = detail

    # ---- status -----------------------------------------------------------

    def status(self, running: bool = True) -> dict[str, Any]:
        now = dt.datetime.now(dt.timezone.utc)
        return {
            "running": running,
            "pid": os.getpid(),
            "started_at": self.started_at.isoformat(),
            "uptime_seconds": round((now - self.started_at).total_seconds(), 1),
            "updated_at": now.isoformat(),
            "database": db_mod.describe(self.index.url),
            "watches": self.watcher.count,
            "roots": [
                {
                    "path": r.path,
                    "configured": r.configured,
                    "mode": r.mode,
                    "exists": r.exists,
                    "problem": r.problem,
                }
                for r in self.roots.values()
            ],
            "last_full_scan": self.last_scan,
            "degraded": [{"key": k, **asdict(v)} for k, v in self.degraded.items()],
        }

    def _write_status(self, now: float, running: bool = True) -> None:
        try:
            write_private(self.index.paths.status_file, json.dumps(self.status(running), indent=2))
        except OSError as exc:
            log.warning("cannot write the status file: %s", exc)


def open_index_recovering(
    url: str | None = None, home: str | os.PathLike[str] | None = None
) -> tuple[DispatchIndex, str | None]:
    """Open the index for a daemon about to start; a SQLite file that cannot
    be opened because it is damaged is moved aside (never deleted) and a new
    one created. (index, what happened, for ``Daemon.database_rebuilt``)."""
    try:
        return DispatchIndex(url, home=home), None
    except DatabaseError:
        path = damaged_database(url, home)
        if path is None:
            raise
    problem = dbfile.quick_check(path) or "damaged"
    aside = dbfile.set_aside(path)
    log.warning("the index database is corrupt (%s); moved it aside to %s", problem, aside)
    why = (
        f"the index database was corrupt ({problem}); moved it aside to {aside.name} "
        "and rebuilt the index from the results directories"
    )
    return DispatchIndex(url, home=home), why


def damaged_database(
    url: str | None = None, home: str | os.PathLike[str] | None = None
) -> Path | None:
    """The index's SQLite file, if it is damaged and no daemon is using it."""
    paths = paths_mod.resolve(home)
    target = config_mod.load(paths, db_override=url).db or paths.default_db_url
    if not db_mod.is_sqlite(target) or running_pid(paths) is not None:
        return None
    path = db_mod.sqlite_path(target)
    return path if dbfile.quick_check(path) is not None else None


def _utcnow_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()
