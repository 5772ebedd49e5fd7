"""Open the index database from a URL.

**This is the one module with engine-specific code** (with ``sqlite_compat``,
the SQLite-only view Covalent's own UI reads). Everything else talks to
peewee's portable API through the models.

- ``sqlite:///absolute/path`` (the default): the file and its folder are
  created on first use, readable by their owner only; WAL mode so readers
  never block the writer; a busy timeout so a briefly held lock is waited for
  rather than reported.
- ``postgresql://user:pass@host:port/dbname``: through peewee and psycopg.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee as pw

from .errors import BadInputError, DatabaseError
from .paths import ensure_private_dir

BUSY_TIMEOUT_SECONDS = 30.0
SQLITE_SCHEMES = ("sqlite",)
POSTGRES_SCHEMES = ("postgres", "postgresql")


def describe(url: str) -> str:
    """The URL with any password hidden, for messages and status."""
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


def is_sqlite(url: str) -> bool:
    return urlparse(url).scheme in SQLITE_SCHEMES


def sqlite_path(url: str) -> Path:
    """The file behind a ``sqlite:///`` URL."""
    parsed = urlparse(url)
    raw = unquote(parsed.path or "")
    if parsed.netloc:  # sqlite://relative/path: netloc holds the first part
        raw = parsed.netloc + raw
    if not raw or raw == "/":
        raise BadInputError(f"no database file in {url!r}; use sqlite:///absolute/path")
    if raw.startswith("//"):  # sqlite:////abs/path spells the root with extra slashes
        raw = "/" + raw.lstrip("/")
    return Path(raw).expanduser().absolute()


def open_database(url: str) -> pw.Database:
    scheme = urlparse(url).scheme
    if scheme in SQLITE_SCHEMES:
        return _open_sqlite(sqlite_path(url))
    if scheme in POSTGRES_SCHEMES:
        return _open_postgres(url)
    raise BadInputError(
        f"unsupported database URL {describe(url)!r}: use sqlite:///path or postgresql://..."
    )


def _open_sqlite(path: Path) -> pw.SqliteDatabase:
    ensure_private_dir(path.parent)
    # Create the file ourselves so it is never world-readable, even briefly.
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
    except OSError as exc:
        raise DatabaseError(f"cannot create the index at {path}: {exc.strerror}") from None
    database = pw.SqliteDatabase(
        str(path),
        pragmas={
            "journal_mode": "wal",
            "busy_timeout": int(BUSY_TIMEOUT_SECONDS * 1000),
            # WAL + NORMAL is durable against application crashes, which is
            # what we need: a lost last transaction is re-read from disk.
            "synchronous": "normal",
            "foreign_keys": 1,
        },
        timeout=BUSY_TIMEOUT_SECONDS,
        # Write transactions take the write lock when they begin. A deferred
        # one that reads first and then writes cannot wait for a concurrent
        # writer in WAL mode: SQLite fails it at once with "database is locked".
        lock_type="IMMEDIATE",
    )
    return database


def _open_postgres(url: str) -> pw.Database:
    from playhouse.db_url import connect

    try:
        return connect(url)
    except pw.ImproperlyConfigured as exc:
        raise DatabaseError(f"cannot use {describe(url)}: {exc}") from None


def engine_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the database itself failed."""
    return (pw.DatabaseError, pw.InterfaceError, sqlite3.DatabaseError)
