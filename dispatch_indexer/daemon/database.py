"""The index database's health, as the daemon sees it.

The daemon outlives what happens to its database: a SQLite file deleted or
replaced under it (reopened and refilled from the roots), damaged (moved
aside, never deleted, and rebuilt), locked by another process or on a full
disk (reported and retried), a database server restarting (reconnected,
then a rescan catches up). ``DatabaseHealth`` notices and repairs; it tells
the daemon what to do next through two flags, ``refill`` and
``full_scan_now``, which the daemon reads: it never calls back.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from .. import config as config_mod
from ..errors import DatabaseError
from ..index import DispatchIndex
from ..paths import resolve
from ..store import engine as db_mod
from ..store.sqlite import health as file_health
from ..store.sqlite.checkpoint import Checkpointer
from .lock import running_pid
from .status import DegradedRegistry

log = logging.getLogger(__name__)

# How often the database file is checked for having been deleted or replaced.
DB_CHECK_INTERVAL = 2.0
# A write that keeps failing is retried this often.
DB_RETRY = 1.0
# The degraded entry of a lost connection to a database server.
DB_CONNECTION = "database-connection"
DB_WRITE = "database-write"


class DatabaseHealth:
    """Watches over one index's database on behalf of its daemon."""

    def __init__(
        self,
        index: DispatchIndex,
        degraded: DegradedRegistry,
        wait: Callable[[float], object],
    ) -> None:
        self.index = index
        self.writer = index.writer()
        self.degraded = degraded
        # Sleeps, unless the daemon is asked to stop meanwhile.
        self.wait = wait
        self.sqlite = db_mod.is_sqlite(index.url)
        self.checkpointer: Checkpointer | None = None
        # The index was recreated: the next full scan refills it from the roots.
        self.refill = False
        # Something was missed meanwhile: a full scan is due now.
        self.full_scan_now = False
        self._identity: tuple[int, int] | None = None
        # A descriptor on the SQLite file for looking at its header: opened
        # once per file, because closing any descriptor on it would drop the
        # POSIX locks that this process's SQLite connection holds there.
        self._probe: int | None = None
        self._next_check = 0.0
        # The -wal file's (size, mtime, inode) when last looked at.
        self._wal_mark: tuple[int, int, int] | None = None

    # ---- lifecycle ------------------------------------------------------

    def start(self) -> None:
        if self.sqlite:
            # WAL checkpoints move off the path of every write (``store.sqlite.checkpoint``).
            self.writer.defer_checkpoints()
            self.checkpointer = Checkpointer(self._path())
            self.checkpointer.start()
        self._identity = self._file_identity()
        self._open_probe()

    def stop(self) -> None:
        """Stop the checkpoints and close the index."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.index.close()
        self._close_probe()

    def rebuilt_before_start(self, why: str) -> None:
        """The index was recreated before the daemon started
        (``open_index_recovering``): say so, and refill it from the roots."""
        self.degraded.set("database", why)
        self.refill = True

    # ---- each iteration ---------------------------------------------------

    def check_connection(self) -> None:
        """While the server is gone, one cheap statement says whether it is
        back, before anything else is tried (and a quiet iteration is not
        taken for a reconnection)."""
        if DB_CONNECTION in self.degraded:
            self.writer.ping()

    def check_file(self, now: float) -> None:
        """SQLite: every DB_CHECK_INTERVAL, whether the file is still the one
        open, and whether its header still looks like a database."""
        if now < self._next_check or not self.sqlite:
            return
        self._next_check = now + DB_CHECK_INTERVAL
        identity = self._file_identity()
        if identity is not None and identity == self._identity:
            # Overwritten or truncated in place: SQLite may go on writing to
            # its cached pages for a long time before it trips over it.
            suspicion = file_health.header_problem(self._probe) if self._probe is not None else None
            if suspicion is not None:
                self._verify(suspicion)
            return
        # Deleted or replaced under us: SQLite would go on writing to the
        # unlinked file. Open the path again and refill it from the roots.
        what = "deleted" if identity is None else "replaced"
        log.warning("the index database was %s; recreating it", what)
        self._reopen(f"the index database was {what}; rebuilt it")

    def written(self) -> None:
        """After each iteration: if the WAL changed, the checkpointer's turn
        (it sleeps until then, so that an idle daemon's threads all sleep)."""
        if self.checkpointer is None:
            return
        try:
            st = os.stat(f"{self._path()}-wal")
        except OSError:
            return
        mark = (st.st_size, st.st_mtime_ns, st.st_ino)
        if mark != self._wal_mark:
            self._wal_mark = mark
            self.checkpointer.written()

    def recovered(self) -> None:
        """An iteration went through: what failed before works again, and
        a rescan finds whatever happened meanwhile."""
        if self.degraded.clear(DB_CONNECTION):
            log.info("reconnected to the database server; rescanning to catch up")
            self.full_scan_now = True
        if self.degraded.clear(DB_WRITE):
            log.info("writing the index works again; rescanning to catch up")
            self.full_scan_now = True

    def failed(self, exc: BaseException) -> None:
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
        kind = file_health.classify(exc)
        if kind in (file_health.CORRUPT, file_health.SCHEMA) and self.sqlite:
            if self._verify(str(exc)):
                return
            if kind == file_health.SCHEMA:
                self._reopen(f"the index lost its tables ({exc}); rebuilt it")
                return
        if kind == file_health.LOCKED:
            detail = f"the index database is locked by another process, retrying: {exc}"
        else:
            detail = f"writing the index failed, retrying: {exc}"
        self.degraded.set(DB_WRITE, detail)
        log.warning("%s", detail)
        self.wait(DB_RETRY)

    def _connection_lost(self, exc: BaseException) -> None:
        """The database server is gone (restarting, unreachable): keep
        running, reconnect every DB_RETRY and rescan once it answers."""
        detail = f"lost the connection to the database server, reconnecting: {exc}".strip()
        if DB_CONNECTION not in self.degraded:
            log.warning("%s", detail)
        self.degraded.set(DB_CONNECTION, detail)
        # Dropped from this process's pool; the next statement opens another.
        self.writer.drop_connection()
        self.wait(DB_RETRY)

    # ---- repairs ------------------------------------------------------------

    def _verify(self, suspicion: str) -> bool:
        """Confirm a suspicion with ``PRAGMA quick_check``; a corrupt file is
        moved aside and the index rebuilt. Whether it was corrupt."""
        problem = file_health.quick_check(self._path())
        if problem is None:
            return False
        log.error("the index database is corrupt (%s: %s)", suspicion, problem)
        self._set_aside_and_rebuild(f"the index database was corrupt ({problem})")
        return True

    def _set_aside_and_rebuild(self, why: str) -> None:
        try:
            # Renamed before our connection closes, so that closing it cannot
            # fold the -wal into the damaged file or delete it.
            aside = file_health.set_aside(self._path())
        except OSError as exc:
            self.degraded.set("database", f"{why}; could not move it aside: {exc}")
            return
        log.warning("moved the damaged index aside to %s", aside)
        self._reopen(
            f"{why}; moved it aside to {aside.name} and rebuilt the index from the "
            "results directories",
            set_aside=False,
        )

    def _reopen(self, why: str, set_aside: bool = True) -> None:
        self.writer.close()
        self._close_probe()
        try:
            self.index.reopen()
        except DatabaseError as exc:
            # Replaced by something that is not a database, say.
            problem = file_health.quick_check(self._path()) if set_aside else None
            if problem is not None:
                self._set_aside_and_rebuild(f"the index database was corrupt ({problem})")
                return
            self.degraded.set("database", f"cannot reopen the index: {exc}")
            return
        if self.checkpointer is not None:
            self.writer.defer_checkpoints()
        self._identity = self._file_identity()
        self._open_probe()
        self.degraded.set("database", why)
        # Refilled by the next full scan, which the daemon retries until it succeeds.
        self.refill = True
        self.full_scan_now = True

    # ---- the file -----------------------------------------------------------

    def _path(self) -> Path:
        return db_mod.sqlite_path(self.index.url)

    def _file_identity(self) -> tuple[int, int] | None:
        if not self.sqlite:
            return None
        try:
            st = os.stat(self._path())
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def _open_probe(self) -> None:
        """Only while this process's connection to the file is open (or
        about to be): see ``_probe``."""
        if self._probe is not None or not self.sqlite:
            return
        with contextlib.suppress(OSError):
            self._probe = os.open(self._path(), os.O_RDONLY | os.O_CLOEXEC)

    def _close_probe(self) -> None:
        """Only once this process's connection to the file is closed."""
        if self._probe is not None:
            with contextlib.suppress(OSError):
                os.close(self._probe)
            self._probe = None


# ---- before the daemon starts ------------------------------------------------------


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
    problem = file_health.quick_check(path) or "damaged"
    aside = file_health.set_aside(path)
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
    paths = resolve(home)
    target = config_mod.load(paths, db_override=url).database_url(paths)
    if not db_mod.is_sqlite(target) or running_pid(paths) is not None:
        return None
    path = db_mod.sqlite_path(target)
    return path if file_health.quick_check(path) is not None else None
