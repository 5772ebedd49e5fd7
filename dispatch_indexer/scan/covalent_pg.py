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

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import CovalentDbBusyError, CovalentDbError
from ..read.covalent_db import CovalentDb, Snapshot, _changed_ids, _chunked, _link_parents
from ..read.dbrows import (
    Schema,
    asset_rows,
    edge_rows,
    electron_rows,
    lattice_rows,
    since_text,
)
from ..records import latest

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


def redact(url: str) -> str:
    """``url`` with its password replaced, fit to print or log."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


def open_covalent_db(spec: str) -> CovalentDb | CovalentPg:
    """The reader for a Covalent server database: a PostgreSQL URL or an
    SQLite file's path."""
    return CovalentPg(spec) if is_database_url(spec) else CovalentDb(spec)


class CovalentPg:
    """One Covalent dispatcher database on PostgreSQL, read-only per use."""

    def __init__(self, url: str, statement_timeout: float = STATEMENT_TIMEOUT) -> None:
        if not is_database_url(url):
            raise CovalentDbError(f"not a PostgreSQL URL: {redact(url)}")
        # psycopg takes the URL without SQLAlchemy's "+driver".
        self.url = re.sub(r"^[A-Za-z]+\+[A-Za-z0-9_]+://", "postgresql://", url)
        self.statement_timeout = statement_timeout
        # What messages and logs show: never the password.
        self.path = redact(url)

    def schema(self) -> Schema:
        with self._transaction() as conn:
            return _schema(conn, self.path)

    def snapshot(
        self, since: datetime | None = None, dispatch_ids: Iterable[str] | None = None
    ) -> Snapshot:
        """As ``CovalentDb.snapshot``: every dispatch (or those changed at or
        after ``since``, or those named) with its tasks, edges and assets."""
        with self._transaction() as conn:
            schema = _schema(conn, self.path)
            ids = None if dispatch_ids is None else list(dict.fromkeys(dispatch_ids))
            if since is not None:
                changed = _changed_ids(conn, schema, since_text(since))
                ids = list(changed) if ids is None else [i for i in ids if i in changed]
            # The builders are typed for sqlite3; _Connection answers as it does.
            lattices = _chunked(ids, lambda chunk: lattice_rows(conn, schema, chunk))
            by_row = {row.row_id: row for row in lattices}
            electrons = _chunked(
                list(by_row),
                lambda chunk: electron_rows(conn, schema, chunk, by_row),
            )
            lattices = _link_parents(conn, schema, lattices)
            ids_by_row = {e.row_id: e for e in electrons}
            edges = _chunked(
                list(by_row),
                lambda chunk: edge_rows(conn, schema, chunk, ids_by_row),
            )
            assets = _chunked(
                list(by_row),
                lambda chunk: asset_rows(conn, schema, chunk, by_row, ids_by_row),
            )
        times = [r.updated_at for r in lattices] + [e.updated_at for e in electrons]
        return Snapshot(
            schema=schema,
            lattices=lattices,
            electrons=electrons,
            edges=edges,
            assets=assets,
            high_water=latest(times),
        )

    def dispatch_ids(self) -> list[str]:
        """Every dispatch id in the database: a full reconciliation's list."""
        with self._transaction() as conn:
            return [row[0] for row in conn.execute("SELECT dispatch_id FROM lattices")]

    @contextmanager
    def _transaction(self) -> Iterator[_Connection]:
        import psycopg

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


class _Row(dict):  # type: ignore[type-arg]
    """A row by column name (a dict, so ``dict(row)`` works) and by position,
    as ``sqlite3.Row`` answers the query builders."""

    __slots__ = ("_values",)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return self._values[key]
        return super().__getitem__(key)


def _row_maker(cursor: Any) -> Callable[[Sequence[Any]], _Row]:
    names = [column.name for column in cursor.description or ()]

    def make(values: Sequence[Any]) -> _Row:
        row = _Row(zip(names, values, strict=True))
        row._values = tuple(values)
        return row

    return make


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
