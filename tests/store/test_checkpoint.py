"""The daemon's WAL checkpoints, moved off the write path (checkpoint.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dispatch_indexer.store.sqlite.checkpoint import Checkpointer

from ..daemon_helpers import wait_for


def _in_database_file(path: Path) -> int:
    """Bytes in the database file itself: what checkpoints moved out of the WAL."""
    return path.stat().st_size


def test_the_thread_checkpoints_what_a_deferring_writer_leaves(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = wal")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("PRAGMA synchronous = OFF")  # a test needs no fsync per insert
    writer.execute("CREATE TABLE t (x BLOB)")
    for _ in range(200):
        writer.execute("INSERT INTO t VALUES (randomblob(8000))")
    # Nothing checkpointed the writer's 1.6 MB: it is all in the WAL.
    assert _in_database_file(path) < 100_000
    checkpointer = Checkpointer(path, interval=0.05)
    checkpointer.start()
    try:
        assert wait_for(lambda: _in_database_file(path) > 1_600_000, timeout=10)
        # The writer goes on meanwhile, never waiting for a checkpoint.
        writer.execute("INSERT INTO t VALUES (randomblob(8000))")
    finally:
        checkpointer.stop()
        writer.close()


def test_a_missing_or_replaced_file_is_never_created_and_is_followed(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    checkpointer = Checkpointer(path)
    checkpointer.checkpoint()
    assert not path.exists()
    path.write_bytes(b"not a database at all")
    checkpointer.checkpoint()  # skipped, quietly
    path.unlink()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = wal")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (randomblob(100000))")
    assert _in_database_file(path) < 100_000
    checkpointer.checkpoint()
    assert _in_database_file(path) > 100_000
    conn.close()


def _wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_large_wal_is_cut_back_once_nobody_needs_it(tmp_path: Path) -> None:
    # After a burst the writer may write nothing for hours; SQLite itself
    # would leave the WAL at its largest until the next write.
    path = tmp_path / "index.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = wal")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("PRAGMA synchronous = OFF")
    writer.execute("CREATE TABLE t (x BLOB)")
    for _ in range(200):
        writer.execute("INSERT INTO t VALUES (randomblob(8000))")
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (200,)
    assert _wal_bytes(path) > 1_600_000
    checkpointer = Checkpointer(path, interval=0.05, wal_limit=100_000)
    # A reader in the middle of a snapshot keeps the WAL, and is not waited for.
    checkpointer.checkpoint()
    assert _in_database_file(path) > 1_600_000  # copied all the same
    assert _wal_bytes(path) > 1_600_000
    reader.execute("COMMIT")
    checkpointer.start()
    try:
        assert wait_for(lambda: _wal_bytes(path) == 0, timeout=10)
        writer.execute("INSERT INTO t VALUES (randomblob(8000))")
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (201,)
    finally:
        checkpointer.stop()
        writer.close()
        reader.close()
