"""A Covalent server whose own database is PostgreSQL, read like its SQLite file.

Covalent 0.209 on puts its dispatcher database on PostgreSQL when the server
runs with ``COVALENT_DATABASE_URL`` (a SQLAlchemy URL). The same Alembic
migrations make the same tables and columns, so the rows are read by the
same query builders as the SQLite file (``read.dbrows``) through a small
adapter: their ``?`` marks become psycopg's ``%s``, and each row answers by
column name and by position as ``sqlite3.Row`` does. Only the schema comes
from elsewhere (``information_schema.columns``, not ``PRAGMA table_info``).

Here and not in ``read/`` because ``read/`` never imports psycopg (the
reader processes stay light; tests/read/test_boundary.py).

Every snapshot is one READ ONLY, REPEATABLE READ transaction: the rows agree
with each other, nothing is ever written, and a short ``statement_timeout``
keeps a slow server from holding a sync. PostgreSQL readers never block
Covalent's writers, so there is no "busy" to retry as with SQLite; a
statement that times out is reported as busy all the same ("try later").

Times: Covalent's columns are ``timestamp without time zone``, read back as
naive datetimes and taken as UTC like the SQLite text. That holds when the
server's ``TimeZone`` is UTC (PostgreSQL stores an aware time converted to
the session's zone); see docs/covalent-generations.md, section 4.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ..config import redact_url as redact
from ..errors import CovalentDbBusyError, CovalentDbError, MissingDependencyError
from ..read.covalent_db import BUSY_WAIT, CovalentDb
from ..read.dbrows import Schema
from ..store.driver import INSTALL_HINT

if TYPE_CHECKING:
    import psycopg

__all__ = ["CovalentPg", "is_database_url", "open_covalent_db", "redact"]

# Seconds: to connect, and for any one statement of a snapshot.
CONNECT_TIMEOUT = 10
STATEMENT_TIMEOUT = 30
_SCHEMES = ("postgresql", "postgres")


def is_database_url(spec: str) -> bool:
    """Whether ``spec`` names a PostgreSQL database (``postgresql://``, also
    SQLAlchemy's ``postgresql+psycopg2://``) rather than a file."""
    scheme = spec.split("://", 1)[0] if "://" in spec else ""
    return scheme.split("+", 1)[0].lower() in _SCHEMES


def open_covalent_db(spec: str | os.PathLike[str], busy_wait: float = BUSY_WAIT) -> CovalentDb:
    """The reader for a Covalent server database: a PostgreSQL URL or an
    SQLite file's path (``busy_wait``: how long a busy file is waited for)."""
    spec = os.fspath(spec)
    return CovalentPg(spec) if is_database_url(spec) else CovalentDb(spec, busy_wait=busy_wait)


class CovalentPg(CovalentDb):
    """One Covalent dispatcher database on PostgreSQL, read-only per use: the
    queries of ``CovalentDb`` over a connection of another engine."""

    def __init__(self, url: str, statement_timeout: float = STATEMENT_TIMEOUT) -> None:
        # No file: CovalentDb's path, busy_timeout and busy_wait do not apply.
        if not is_database_url(url):
            raise CovalentDbError(f"not a PostgreSQL URL: {redact(url)}")
        # psycopg takes the URL without SQLAlchemy's "+driver".
        self.url = re.sub(r"^[A-Za-z]+\+[A-Za-z0-9_]+://", "postgresql://", url)
        self.statement_timeout = statement_timeout
        # What messages and logs show: never the password.
        self.path = redact(url)

    def _read_schema(self, conn: Any) -> Schema:
        return _schema(conn, self.path)

    @contextmanager
    def _transaction(self) -> Iterator[_Connection]:  # type: ignore[override]
        try:
            import psycopg
        except ImportError:
            raise MissingDependencyError(
                f"reading a Covalent server's PostgreSQL database needs psycopg 3: {INSTALL_HINT}"
            ) from None
        try:
            raw = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT)
        except (psycopg.Error, ValueError) as exc:
            # ValueError: a URL psycopg cannot even parse (a bad port...).
            raise CovalentDbError(f"{self.path}: cannot connect: {self._line(exc)}") from None
        try:
            # The first statements of the transaction psycopg opens: nothing
            # after them can write, and every query sees the same moment.
            raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            raw.execute(f"SET LOCAL statement_timeout = {int(self.statement_timeout * 1000)}")
            yield _Connection(raw)
        except psycopg.errors.QueryCanceled:
            raise CovalentDbBusyError(f"{self.path}: too slow to answer, try later") from None
        except psycopg.Error as exc:
            raise CovalentDbError(
                f"{self.path}: cannot be read as Covalent's database: {self._line(exc)}"
            ) from None
        finally:
            # Nothing was written: ending the transaction either way is the
            # same, and a connection the server dropped has nothing to end.
            with suppress(psycopg.Error):
                raw.rollback()
            raw.close()

    def _line(self, exc: BaseException) -> str:
        """The error as one line, without the password even if echoed."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        try:
            password = urlsplit(self.url).password
        except ValueError:
            password = None
        for form in {password, unquote(password or "")} - {None, ""}:
            text = text.replace(form, "***")
        return text


class _Row(tuple):  # type: ignore[type-arg]
    """A row by position (a tuple: it unpacks and slices) and by column
    name, with ``keys()`` for ``dict(row)``, as ``sqlite3.Row`` answers the
    query builders."""

    __slots__ = ()
    _names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_maker(cursor: Any) -> Callable[[Sequence[Any]], _Row]:
    # The first of several columns of one name answers for it (sqlite3.Row's rule).
    names: dict[str, int] = {}
    for position, column in enumerate(cursor.description or ()):
        names.setdefault(column.name, position)
    row_type = type("Row", (_Row,), {"__slots__": (), "_names": names})

    def make(values: Sequence[Any]) -> _Row:
        return row_type(_as_sqlite(v) for v in values)

    return make


def _as_sqlite(value: Any) -> Any:
    """A time as the text SQLAlchemy writes into SQLite (naive UTC,
    ``YYYY-MM-DD HH:MM:SS[.ffffff]``): the readers compare and parse the
    stored text as it comes (``read.dbmarks``), one form for both engines."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return str(value)
    return value


class _Connection:
    """What the query builders call: ``execute(sql, params)`` with SQLite's
    ``?`` marks, answering rows usable by name and by position."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self._raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[_Row]:
        # The builders put values only in '?' marks, never in the text, so
        # every '?' is a mark and a '%' can only be literal.
        text = sql.replace("%", "%%").replace("?", "%s")
        cursor = self._raw.cursor(row_factory=_row_maker)
        cursor.execute(text, list(params))
        return cursor


def _schema(conn: _Connection, where: str) -> Schema:
    columns: dict[str, set[str]] = {}
    for row in conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = ANY(current_schemas(false))"
    ):
        columns.setdefault(row[0], set()).add(row[1])
    if "lattices" not in columns:
        raise CovalentDbError(f"{where}: no lattices table: not a Covalent dispatcher database")
    revision = None
    if "alembic_version" in columns:
        found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = found[0] if found else None
    return Schema(revision=revision, columns={t: frozenset(c) for t, c in columns.items()})
