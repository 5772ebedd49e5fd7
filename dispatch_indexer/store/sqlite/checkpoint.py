"""Checkpoint the daemon's SQLite WAL from a thread of its own.

In WAL mode a commit appends to the ``-wal`` file, and by default the
connection that commits past 1,000 pages then copies the WAL back into the
database file and waits for the disk to flush it: a few hundred milliseconds
on a slow disk, every hundred or so live saves, on the very path from a
Covalent save to the record showing (it was most of the live latency's p99).
The daemon turns that off on its connection and this thread checkpoints
instead, on its own connection, at most every ``interval`` seconds and only
after the daemon says it wrote (``written``): an idle daemon's thread sleeps. A PASSIVE
checkpoint waits for no one: the daemon goes on committing meanwhile, and a
reader in the middle of a snapshot only defers the part it still needs.
SQLite only; PostgreSQL has no such thing for us to do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

import peewee as pw

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.5


# The WAL file is reused from its start once checkpointed, not shrunk: past
# this size it is cut back to it, so that one burst does not leave it large.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def defer_checkpoints(database: pw.Database) -> None:
    """Stop this connection from checkpointing when it commits."""
    database.execute_sql("PRAGMA wal_autocheckpoint = 0")
    database.execute_sql(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")


class Checkpointer:
    def __init__(
        self, path: Path, interval: float = INTERVAL_SECONDS, wal_limit: int = WAL_SIZE_LIMIT
    ) -> None:
        self.path = path
        self.interval = interval
        self.wal_limit = wal_limit
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._inode: int | None = None

    def start(self) -> None:
        # What an earlier run left in the WAL is checkpointed first.
        self._dirty.set()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """Something was committed: checkpoint within ``interval``."""
        self._dirty.set()

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while True:
                self._dirty.wait()
                # A burst's commits are checkpointed together.
                if self._stop.wait(self.interval):
                    break
                self._dirty.clear()
                if not self.checkpoint():
                    self._dirty.set()  # a reader held part of it: again soon
        finally:
            self._disconnect()

    def checkpoint(self) -> bool:
        """One PASSIVE checkpoint; whether the WAL is all copied (and cut
        back if it was large). A file that is gone or was replaced (the
        daemon sets a damaged one aside) is reconnected to, never created."""
        try:
            inode = os.stat(self.path).st_ino
        except OSError:
            self._disconnect()
            return True
        if inode != self._inode:
            self._disconnect()
        try:
            if self._conn is None:
                uri = f"file:{quote(str(self.path))}?mode=rw"
                self._conn = sqlite3.connect(uri, uri=True, timeout=0, check_same_thread=False)
                self._inode = inode
            busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            done = busy == 0 and frames == copied
            if done and self._wal_bytes() > self.wal_limit:
                # SQLite cuts the WAL back only when a writer next starts
                # over at its beginning: after a cold build, the daemon may
                # write nothing more for hours, and the index would sit at
                # twice its size. Everything is copied already, so this holds
                # the write lock only to empty the file; with no busy wait,
                # a writer or reader at work makes it a passive one instead.
                busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                done = busy == 0
            return done
        except sqlite3.Error as exc:
            # Busy, or a file that is not (yet) a database: the next turn.
            log.debug("checkpoint skipped: %s", exc)
            self._disconnect()
            return False

    def _wal_bytes(self) -> int:
        try:
            return os.stat(f"{self.path}-wal").st_size
        except OSError:
            return 0

    def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None
        self._inode = None
