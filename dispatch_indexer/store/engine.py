"""Open the index database from a URL.

**This is the one module with engine-specific code** (with ``sqlite/``,
what only an SQLite file has, and ``counters``, the triggers that count
dispatches). Everything else talks to
peewee's portable API through the models; what differs between the engines
(opening, locking migrations, byte-ordered path columns, telling a lost
connection from a failed statement) is a function here.

- ``sqlite:///absolute/path`` (the default): the file and its folder are
  created on first use, readable by their owner only; WAL mode so readers
  never block the writer; a busy timeout so a briefly held lock is waited for
  rather than reported.
- ``postgresql://user:pass@host:port/dbname`` (or ``postgres://``): through
  peewee and psycopg 3, with a pool of connections per process (each thread
  takes one while it works and gives it back; a connection found broken, for
  instance after the server restarted, is dropped and a new one opened).
  Query parameters are passed to psycopg as they are (``?sslmode=require``,
  ``?host=/run/postgresql`` for a unix socket, ``?connect_timeout=5``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, unquote, urlparse

import peewee as pw

from ..config import redact_url
from ..errors import BadInputError, DatabaseError
from ..paths import ensure_private_dir
from . import driver

T = TypeVar("T")

BUSY_TIMEOUT_SECONDS = 30.0
SQLITE_SCHEMES = ("sqlite",)
POSTGRES_SCHEMES = ("postgres", "postgresql")

# PostgreSQL: connections one process may hold (the HTTP server answers from
# a thread pool; the daemon and the CLI use one), how long a thread waits for
# one when all are taken, and how long the server may take to answer a connect.
PG_MAX_CONNECTIONS = 32
PG_POOL_WAIT_SECONDS = 30
PG_CONNECT_TIMEOUT_SECONDS = 10
# Idle pooled connections older than this are closed rather than reused.
PG_STALE_SECONDS = 600
# Serialises schema migrations between processes (pg_advisory_xact_lock key).
_MIGRATION_LOCK = zlib.crc32(b"covalent-indexer:migrate")
# A transaction that lost a deadlock or a serialization conflict is run again.
RETRIES = 5


def describe(url: str) -> str:
    """The URL with any password hidden, for messages and status."""
    return redact_url(url)


def is_sqlite(url: str) -> bool:
    return urlparse(url).scheme in SQLITE_SCHEMES


def is_postgres(database: pw.Database) -> bool:
    return isinstance(database, pw.PostgresqlDatabase)


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
    # Only when it is missing: closing a descriptor on an existing index
    # would drop the POSIX locks of any connection this process has open on
    # it (a second DispatchIndex, a daemon in the same process), and another
    # process could then checkpoint and remove the WAL under that connection.
    if not path.exists():
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            os.close(fd)
        except FileExistsError:
            pass
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
            # A statement that fires triggers (every write to the dispatch
            # table: counters) keeps a statement journal of the pages it
            # changes, and past 64 KB SQLite spills it to a temporary file;
            # a dispatch insert touches about that much, so the triggers
            # doubled its cost on disk. Kept in memory, they add a few
            # microseconds. The index runs no VACUUM or large sort that
            # could fill memory this way.
            "temp_store": "memory",
        },
        timeout=BUSY_TIMEOUT_SECONDS,
        # Write transactions take the write lock when they begin. A deferred
        # one that reads first and then writes cannot wait for a concurrent
        # writer in WAL mode: SQLite fails it at once with "database is locked".
        lock_type="IMMEDIATE",
    )
    return database


def postgres_params(url: str) -> dict[str, object]:
    """psycopg's connection parameters for a ``postgresql://`` URL."""
    parsed = urlparse(url)
    dbname = unquote(parsed.path.lstrip("/"))
    if not dbname:
        raise BadInputError(
            f"no database name in {describe(url)!r}; use postgresql://user:pass@host:port/dbname"
        )
    try:
        port = parsed.port
    except ValueError:
        raise BadInputError(f"bad port in {describe(url)!r}") from None
    params: dict[str, object] = {"dbname": dbname}
    if parsed.hostname:
        params["host"] = unquote(parsed.hostname)
    if port:
        params["port"] = port
    if parsed.username:
        params["user"] = unquote(parsed.username)
    if parsed.password:
        params["password"] = unquote(parsed.password)
    params["connect_timeout"] = PG_CONNECT_TIMEOUT_SECONDS
    params["application_name"] = "covalent-indexer"
    params.update(parse_qsl(parsed.query))
    return params


def _open_postgres(url: str) -> pw.Database:
    driver.load_psycopg()  # peewee was imported without it (``store.driver``)
    from playhouse.postgres_ext import PooledPsycopg3Database

    params = postgres_params(url)
    dbname = params.pop("dbname")
    return PooledPsycopg3Database(
        dbname,
        max_connections=PG_MAX_CONNECTIONS,
        timeout=PG_POOL_WAIT_SECONDS,
        stale_timeout=PG_STALE_SECONDS,
        **params,
    )


def engine_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the database itself failed."""
    return (pw.DatabaseError, pw.InterfaceError, sqlite3.DatabaseError)


# ---- what differs between the engines once open ----------------------------


def lock_for_migration(database: pw.Database) -> None:
    """Inside a migration step's transaction: wait until no other process
    migrates. SQLite's IMMEDIATE transactions already hold the write lock;
    PostgreSQL takes a transaction-scoped advisory lock."""
    if is_postgres(database):
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))


def byte_ordered(database: pw.Database, table: str, columns: tuple[str, ...]) -> None:
    """Make text columns compare byte by byte, as path prefixes need.

    Paths under a folder are looked up as a range (``scope.under_range``:
    between "folder/" and "folder0"), which holds only in byte order.
    SQLite's default collation (BINARY) is byte order already; PostgreSQL
    compares with the database's collation, which for most locales ignores
    punctuation, so the columns (and the indexes on them) get ``COLLATE "C"``.
    """
    if not is_postgres(database):
        return
    for column in columns:
        (datatype,) = database.execute_sql(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attname = %s",
            (table, column),
        ).fetchone()
        database.execute_sql(
            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE {datatype} COLLATE "C"'
        )


def _driver_error(exc: BaseException) -> BaseException | None:
    """The driver's exception behind peewee's (peewee passes it as args[0])."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        if type(current).__module__.startswith("psycopg"):
            return current
        inner = current.args[0] if current.args else None
        current = (
            inner
            if isinstance(inner, BaseException)
            else (current.__cause__ or current.__context__)
        )
        seen += 1
    return None


def connection_lost(exc: BaseException) -> bool:
    """Whether an engine error means the connection to a database server is
    gone (the server restarted, refused or never answered), rather than that
    a statement failed. Always False for SQLite, which has no server."""
    err = _driver_error(exc)
    if err is None:
        return False
    import psycopg

    if isinstance(err, psycopg.InterfaceError):  # "the connection is closed"
        return True
    if isinstance(err, psycopg.OperationalError):
        state = getattr(err, "sqlstate", None)
        return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")
    return False


def retryable(exc: BaseException) -> bool:
    """Whether a failed transaction may simply be run again: it lost a
    deadlock or a serialization conflict with another writer (PostgreSQL)."""
    err = _driver_error(exc)
    return getattr(err, "sqlstate", None) in ("40001", "40P01")


def discard_connection(database: pw.Database) -> None:
    """Close this thread's connection after an error, so the next statement
    opens a fresh one: a broken pooled connection is dropped, a healthy one
    goes back to the pool. Only for servers: a SQLite connection stays."""
    if not is_postgres(database) or database.is_closed() or database.in_transaction():
        return
    # peewee forgets the connection even when closing it fails.
    with contextlib.suppress(Exception):
        database.close()


def retrying_transaction(database: pw.Database, action: Callable[[], T]) -> T:
    """Run ``action`` in a transaction; run it again (a few times) if it lost
    a deadlock or serialization conflict with a concurrent writer."""
    for attempt in range(RETRIES):
        try:
            with database.atomic():
                return action()
        except pw.DatabaseError as exc:
            if attempt + 1 >= RETRIES or not retryable(exc) or database.in_transaction():
                raise
        time.sleep(0.02 * 2**attempt)
    raise AssertionError("unreachable")


def ping(database: pw.Database) -> None:
    """One round trip to the database (raises an engine error if it fails)."""
    database.execute_sql("SELECT 1").fetchone()
