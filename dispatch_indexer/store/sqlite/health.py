"""The health of a SQLite index file: what a database error means, a cheap
look at the file, ``PRAGMA quick_check``, and moving a corrupt file aside.

**Engine-specific (SQLite only), like ``store.engine``.** The daemon uses it to tell a
file that is broken (truncated, overwritten, not a database) from one that is
only busy (another process holding a lock): the first is moved aside, never
deleted, and the index is rebuilt from the results directories; the second
is waited for and retried.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

# sqlite3 result codes (the primary code is the low byte of an extended one).
_BUSY, _LOCKED, _CORRUPT, _FULL, _NOTADB = 5, 6, 11, 13, 26
HEADER = b"SQLite format 3\x00"
SUFFIXES = ("-wal", "-shm")

LOCKED = "locked"
CORRUPT = "corrupt"
SCHEMA = "schema"
FULL = "full"
OTHER = "other"


def _sqlite_error(exc: BaseException) -> BaseException:
    """The sqlite3 exception behind a peewee one (peewee keeps it as args[0])."""
    if not isinstance(exc, sqlite3.Error) and exc.args and isinstance(exc.args[0], sqlite3.Error):
        return exc.args[0]
    return exc


def classify(exc: BaseException) -> str:
    """What a database error means: ``LOCKED`` (another process holds the
    database: wait), ``CORRUPT`` (the file is damaged or not a database),
    ``SCHEMA`` (a table is gone: the file was emptied or replaced), ``FULL``
    (no space left, or the file may not grow) or ``OTHER``."""
    error = _sqlite_error(exc)
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(error).lower()
    if primary in (_BUSY, _LOCKED) or "database is locked" in text or "is locked" in text:
        return LOCKED
    if primary in (_CORRUPT, _NOTADB) or "malformed" in text or "not a database" in text:
        return CORRUPT
    if "no such table" in text:
        return SCHEMA
    if primary == _FULL or "disk is full" in text:
        return FULL
    return OTHER


def header_problem(fd: int) -> str | None:
    """A cheap look at the file open on ``fd`` (its first 100 bytes and its
    size): what is wrong with it, or None. A hint only: confirm with
    ``quick_check``, since a checkpoint in progress can briefly look the same.

    Takes a descriptor kept open, never a path to open and close: closing
    any descriptor on a SQLite file drops every POSIX lock the process holds
    on it, its SQLite connection's included, and another process may then
    take the WAL away from under that connection."""
    try:
        size = os.fstat(fd).st_size
        header = os.pread(fd, 100, 0)
    except OSError:
        return None  # unreadable: the errors of the connection will say
    if size == 0:
        return "the file is empty"
    if len(header) < 100 or not header.startswith(HEADER):
        return "the file does not start with SQLite's header"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return f"the header gives an impossible page size ({page_size})"
    if size % page_size:
        return f"the file's size ({size:,} bytes) is not a whole number of {page_size}-byte pages"
    pages = int.from_bytes(header[28:32], "big")
    if pages and header[24:28] == header[92:96] and size < pages * page_size:
        return f"the file is shorter ({size:,} bytes) than its header says ({pages} pages)"
    return None


def quick_check(path: Path, timeout: float = 5.0) -> str | None:
    """``PRAGMA quick_check`` on its own connection: what is wrong with the
    index file (damaged, not a database, emptied), or None when it is sound,
    absent, or cannot be checked because another process holds it (a lock
    is not damage)."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=timeout)
    except sqlite3.Error as exc:
        return None if classify(exc) == LOCKED else str(exc)
    try:
        rows = conn.execute("PRAGMA quick_check(5)").fetchall()
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.Error as exc:
        return None if classify(exc) == LOCKED else str(exc)
    finally:
        conn.close()
    if rows == [("ok",)]:
        # An index always has its tables: none means the file was emptied
        # (SQLite reads a file truncated to nothing as a new, empty database).
        return None if tables else "the database is empty: its tables are gone"
    text = "; ".join(str(row[0]).replace("\n", "; ") for row in rows)
    return text[:300] or "quick_check found problems"


def set_aside(path: Path) -> Path:
    """Rename the file (with its -wal and -shm, which belong to it) to
    ``<name>.corrupt-<UTC time>``; the new name. Nothing is deleted."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.rename(path, target)
    for suffix in SUFFIXES:
        # A stale -wal left in place would be replayed into the new index.
        try:
            os.rename(f"{path}{suffix}", f"{target}{suffix}")
        except FileNotFoundError:
            pass
    return target
