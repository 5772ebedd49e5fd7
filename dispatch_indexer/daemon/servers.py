"""The Covalent servers the daemon follows live: each "covalent-data" root's
database and data dir, watched by its root's backend (``watch``).

A server's dispatches change in its database first: the folder holding the
database file is watched for writes to it and to its ``-journal`` or
``-wal``, and each burst of them brings, a few tens of milliseconds later,
an incremental sync (``scan.server``: the rows written since the last one).
Files that land in the data dir without a row changing (a task's
``stderr.log`` written after its status) are seen by watches on the data dir
and on the folders of dispatches still running (and of those just
finished, for a while): each brings a sync of that one dispatch.

The periodic rescan is the reconciliation: a full sync, which also puts
the watches right. A busy database (Covalent's server is writing it, in
rollback-journal mode) is tried again soon and is never a fault; one that
is missing or damaged is reported in ``status`` until it reads again. A
root watched by polling (a network filesystem) is synced incrementally at
each poll instead.

Like the rest of the daemon: events only put work on this table, and the
daemon's one loop does it (``run_due``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ..access import IndexWriter
from ..config import RootConfig
from ..paths import is_within
from ..records import FINAL_STATUSES, DispatchRecord, ScanSummary
from ..scan.covalent_pg import is_database_url
from ..scan.server import ServerCursor, SyncInterrupted, database_of
from .roots import Roots, RootState
from .status import DegradedRegistry
from .watch import CREATED, DELETED, GONE, MOVED_FROM, MOVED_TO, FsEvent

log = logging.getLogger(__name__)

# A burst of writes (one commit is several events) is synced once, this
# long after its first event: short, as a status should show within 1 s.
DEBOUNCE = 0.03
# A busy database is tried again this soon, never reported.
BUSY_RETRY = 0.1
# How long one read waits on a busy database: the loop must not stall.
BUSY_WAIT = 0.3
# Records per write in a live sync.
LIVE_BATCH = 100
# A finished dispatch's folders stay watched this long (its last logs).
FINISHED_GRACE = 30.0
_DB_SUFFIXES = ("", "-journal", "-wal")


@dataclass
class ServerState:
    """One followed server: its database, cursor, and the work due on it."""

    root: RootConfig
    database: str | None
    cursor: ServerCursor = field(default_factory=ServerCursor)
    # An incremental sync due at this time (None: none due).
    sync_at: float | None = None
    # Dispatches to sync one by one (a file of theirs changed), and when.
    named: dict[str, float] = field(default_factory=dict)
    # Dispatch folders watched, with when to let go (None: still running).
    watched: dict[str, float | None] = field(default_factory=dict)

    @property
    def database_dir(self) -> str | None:
        return os.path.dirname(self.database) if self.database else None

    def is_database_file(self, path: str) -> bool:
        return self.database is not None and any(
            path == self.database + suffix for suffix in _DB_SUFFIXES
        )

    def sync_soon(self, at: float) -> None:
        if self.sync_at is None or at < self.sync_at:
            self.sync_at = at


class Servers:
    """The covalent-data roots followed, by path."""

    def __init__(
        self,
        writer: IndexWriter,
        roots: Roots,
        degraded: DegradedRegistry,
        clock: Callable[[], float],
        should_stop: Callable[[], bool],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.writer = writer
        self.roots = roots
        self.degraded = degraded
        self.clock = clock
        self.should_stop = should_stop
        # Told after a sync that wrote something (the notifier reads the feed).
        self.on_change = on_change
        self.by_path: dict[str, ServerState] = {}
        self.batch_size = 500
        # How often a missing or damaged database is looked at again.
        self.retry_interval = 5.0

    # ---- the configured roots ------------------------------------------------

    def follow(self, configured: list[RootConfig], batch_size: int, retry_interval: float) -> None:
        """Follow the covalent-data roots of the configuration (called after
        ``Roots.sync``): their full sync comes with the daemon's scans."""
        self.batch_size, self.retry_interval = batch_size, retry_interval
        wanted = {r.path: r for r in configured if r.kind == "covalent-data"}
        for path in list(self.by_path):
            if path not in wanted or wanted[path] != self.by_path[path].root:
                self._drop(self.by_path.pop(path))
        for path, root in wanted.items():
            if path not in self.by_path:
                database = database_of(root)
                if database is not None and is_database_url(database):
                    # On PostgreSQL: no file to watch, its polls sync it.
                    database = None
                self.by_path[path] = ServerState(root, database)

    def _drop(self, state: ServerState) -> None:
        folder = state.database_dir
        others = [s for s in self.by_path.values() if s.database_dir == folder]
        if folder and not others and self.roots.root_of(folder) is None:
            self.roots.backends.unwatch(folder)

    # ---- events (from the daemon's loop, never the watcher's thread) ----------

    def on_event(self, event: FsEvent, now: float) -> bool:
        """Take an event of a followed server; False if it is none of ours."""
        path = event.path
        for state in self.by_path.values():
            if state.is_database_file(path):
                state.sync_soon(now + DEBOUNCE)
                return True
            if event.kind == GONE and path == state.database_dir:
                state.sync_soon(now)  # it reports the database missing
                return True
        root = self.roots.root_of(path)
        if root is None or root.kind != "covalent-data" or path == root.path:
            return False
        state = self.by_path.get(root.path)
        if state is None:
            return False
        parts = os.path.relpath(path, root.path).split(os.sep)
        dispatch = os.path.join(root.path, parts[0])
        if event.kind in (DELETED, MOVED_FROM, GONE) and len(parts) == 1:
            self.roots.backends.unwatch_under(dispatch)
            state.watched.pop(dispatch, None)
        elif event.is_dir and event.kind in (CREATED, MOVED_TO):
            if len(parts) == 1:
                self._watch_dispatch(state, root, dispatch, None)
            elif len(parts) == 2 and dispatch in state.watched:
                self.roots.ensure_watched(path, root)
        state.named.setdefault(parts[0], now + DEBOUNCE)
        return True

    def next_due(self) -> float | None:
        times = [s.sync_at for s in self.by_path.values() if s.sync_at is not None]
        times += [t for s in self.by_path.values() for t in s.named.values()]
        return min(times) if times else None

    # ---- syncing ---------------------------------------------------------------

    def run_due(self, now: float) -> None:
        """The syncs due by ``now``: incremental ones, then named dispatches."""
        try:
            self._run_due(now)
        except SyncInterrupted:
            return  # the daemon is stopping; what was written is consistent

    def _run_due(self, now: float) -> None:
        for state in list(self.by_path.values()):
            root = self.roots.by_path.get(state.root.path)
            if root is None:
                continue
            if state.sync_at is not None and now >= state.sync_at:
                state.sync_at = None
                self.sync(root, full=False)
            named = sorted(i for i, at in state.named.items() if at <= now)
            if named:
                for dispatch_id in named:
                    del state.named[dispatch_id]
                self._run(state, root, dispatch_ids=named)
            self._release_finished(state, now)

    def sync(self, root: RootState, full: bool) -> ScanSummary:
        """Sync one server: full (the reconciliation; watches put right) or
        from where the last sync stopped. Raises ``SyncInterrupted``."""
        state = self.by_path.get(root.path)
        if state is None:
            return ScanSummary()
        before = state.cursor.full_syncs
        summary = self._run(state, root, full=full)
        # Whenever the sync was a full one (asked, or a database back or
        # replaced), the watches are put right too.
        if state.cursor.full_syncs > before and root.mode != "polling":
            self._watch(state, root)
        return summary

    def _run(self, state: ServerState, root: RootState, **options: object) -> ScanSummary:
        def written(record: DispatchRecord) -> None:
            self._written(state, root, record)

        # Live syncs write in small batches, so the first changes show
        # while the rest are read; the reconciliation in large ones.
        full = bool(options.get("full"))
        summary = self.writer.sync_server(
            state.root,
            batch_size=self.batch_size if full else min(self.batch_size, LIVE_BATCH),
            should_stop=self.should_stop,
            cursor=state.cursor,
            busy_wait=BUSY_WAIT,
            on_written=written,
            **options,
        )
        self.report(state.root, summary)
        if summary.busy:
            state.sync_soon(self.clock() + BUSY_RETRY)
        elif summary.errors and root.mode != "polling":
            # Missing or damaged: its return may bring no event we watch
            # (its folder made anew), so look again now and then.
            state.sync_soon(self.clock() + self.retry_interval)
        if summary.new or summary.updated or summary.missing:
            log.info("%s: %s", root.path, summary.line())
            self.on_change()
        return summary

    def report(self, root: RootConfig, summary: ScanSummary) -> None:
        """A server's database that cannot be read is reported once (in
        status and the log) until it can again; a busy one is no fault."""
        key = f"covalent-db:{root.path}"
        if summary.errors:
            if key not in self.degraded:
                log.warning("%s", "; ".join(summary.errors))
            self.degraded.set(key, "; ".join(summary.errors))
        elif not summary.busy and self.degraded.clear(key):
            log.info("%s: its Covalent database is readable again", root.path)

    # ---- watches ---------------------------------------------------------------

    def _watch(self, state: ServerState, root: RootState) -> None:
        """The database's folder, the data dir, and every dispatch folder
        that can still change."""
        folder = state.database_dir
        if folder is not None and not self.roots.watch_folder(folder, root, modify=True):
            if root.mode == "polling":
                return  # the watches ran out: put to polling already
            if os.path.isdir(folder):
                self.roots.to_polling(root, f"cannot watch {folder}; polling instead")
                return
        self.roots.ensure_watched(root.path, root)
        for path in self.writer.unsettled_paths(root.path):
            self._watch_dispatch(state, root, path, None)

    def _watch_dispatch(
        self, state: ServerState, root: RootState, folder: str, release_at: float | None
    ) -> None:
        if root.mode == "polling" or not is_within(folder, root.path):
            return
        self.roots.ensure_watched(folder, root)
        state.watched[folder] = release_at
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            sub = os.path.join(folder, name)
            if name.startswith("node_") and os.path.isdir(sub):
                self.roots.ensure_watched(sub, root)

    def _written(self, state: ServerState, root: RootState, record: DispatchRecord) -> None:
        folder = record.path
        if record.status not in FINAL_STATUSES:
            if state.watched.get(folder, 0.0) is not None:
                self._watch_dispatch(state, root, folder, None)
        elif folder in state.watched and state.watched[folder] is None:
            # Finished: its last logs may follow its status, so a while yet.
            state.watched[folder] = self.clock() + FINISHED_GRACE

    def _release_finished(self, state: ServerState, now: float) -> None:
        for folder, at in list(state.watched.items()):
            if at is not None and now >= at:
                del state.watched[folder]
                self.roots.backends.unwatch_under(folder)


__all__ = ["ServerState", "Servers", "SyncInterrupted"]
