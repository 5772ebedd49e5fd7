"""The index's SQLite files, seen from outside the library: where they are,
a read-only connection, their sizes, and reading them into the page cache."""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from pathlib import Path

from dispatch_indexer.paths import resolve as resolve_paths


def db_path_of(home: Path) -> Path:
    return resolve_paths(home).database_file


def ro_connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(
        f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True, isolation_level=None
    )


def db_files_size(path: Path) -> dict[str, int]:
    sizes = {}
    for suffix in ("", "-wal", "-shm"):
        file = Path(f"{path}{suffix}")
        sizes[suffix.lstrip("-") or "db"] = file.stat().st_size if file.exists() else 0
    return sizes


def table_sizes(conn: sqlite3.Connection) -> dict[str, int] | None:
    """Bytes per table and index (dbstat), if this SQLite has it."""
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error:
        return None
    return {name: size for name, size in sorted(rows, key=lambda r: -r[1])}


def warm_database(home: Path) -> None:
    """Read the index's files once, for the rescan, as ``warm_files`` does
    the dispatch folders for the walk (the walk that is its baseline finds
    the folders in the kernel's caches, which the pageout leaves alone)."""
    db = db_path_of(home)
    for path in db.parent.glob(db.name + "*"):
        with contextlib.suppress(OSError), open(path, "rb") as fh:
            while fh.read(1 << 22):
                pass
