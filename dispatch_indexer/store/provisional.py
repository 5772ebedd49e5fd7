"""The provisional records of the listing pass (``scan.listing``): written
in batches before any result.pkl is read, replaced by the full reads, and
dropped when their folder vanished unread.
"""

from __future__ import annotations

import itertools
import operator
import os
import re
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import peewee as pw

from ..text import storable
from . import engine
from .models import Dispatch
from .scope import Scope, chunks, under_range
from .statements import Batch, Compiled, Slot, slots

# The source of a provisional record: only it has this one.
SOURCE = "listing"
# What a provisional record holds.
_COLUMNS = [
    "dispatch_id", "host", "path", "results_dir", "root", "size", "mtime_ns",
    "inode", "status", "start_time", "end_time", "sort_time", "source",
    "first_seen", "updated_at",
]  # fmt: skip


def listing_only(D: type[Dispatch]) -> pw.Expression:
    """Provisional records: the source a literal in the SQL, so that SQLite
    can use the partial index on it (migration step 6)."""
    return D.source == pw.SQL(f"'{SOURCE}'")


def build_listing(scope: Scope) -> tuple[type[pw.Model], pw.Query]:
    D = scope.tables.Dispatch
    query = D.insert(slots(_COLUMNS)).on_conflict(conflict_target=[D.dispatch_id], action="NOTHING")
    return D, query


def has_locations(scope: Scope, folder: str) -> bool:
    """Whether any folder under ``folder`` is known on this host."""
    L = scope.tables.Location
    query = L.select(pw.SQL("1")).where((L.host == scope.host) & under_range(L.path, folder))
    return query.limit(1).tuples().first() is not None


# A provisional record as the listing pass gives it: these values, in this
# order (a tuple per dispatch: the pass makes tens of thousands a second).
ROW = (
    "dispatch_id", "path", "results_dir", "size", "mtime_ns", "inode",
    "status", "start_time", "end_time", "sort_time",
)  # fmt: skip
# Rows per statement on SQLite, at most (fewer if its limit on bound
# parameters is lower).
_ROWS_PER_STATEMENT = 500


class _Listing:
    """``build_listing`` as peewee writes it, and how a ``ROW`` tuple and
    the values shared by a batch become its parameters.

    On SQLite a batch runs as a few INSERTs of many rows each (peewee's
    single-row VALUES repeated): the JSON array ``statements.Batch`` hands
    over costs SQLite a ``json_extract`` per value, which made it a third
    slower than binding the same values, and ``executemany`` takes the GIL
    back between rows (the walking thread then waits)."""

    def __init__(self, scope: Scope) -> None:
        D, query = build_listing(scope)
        self.sql, params = query.sql()
        # Per parameter: a ROW position, a name of the shared values, or a
        # constant peewee put in the statement.
        self._params: list[tuple[int, str | None, Any]] = []
        for param in params:
            if isinstance(param, Slot) and param.name in ROW:
                self._params.append((ROW.index(param.name), None, None))
            elif isinstance(param, Slot):
                self._params.append((-1, param.name, None))
            else:
                self._params.append((-1, None, param))
        self._field = {name: D._meta.fields[name] for name in _COLUMNS}
        self._time = D._meta.fields["sort_time"].db_value
        match = re.search(r"VALUES (\((?:\?|%s)(?:, (?:\?|%s))*\))", self.sql)
        if isinstance(scope.database, pw.SqliteDatabase) and match is not None:
            limit = _variable_limit(scope.database)
            per = max(1, min(_ROWS_PER_STATEMENT, limit // len(params)))
            self.rows_per_statement = per
            head, row, tail = self.sql[: match.start(1)], match[1], self.sql[match.end(1) :]
            self._many: Callable[[int], str] | None = lambda n: head + ", ".join([row] * n) + tail
        else:
            self.rows_per_statement = 1
            self._many = None

    def bind(self, rows: list[tuple[Any, ...]], shared: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Each row's parameters, converted as peewee's fields convert them."""
        # The shared values, then peewee's constants, follow a row's values.
        tail: list[Any] = []
        picks: list[int] = []
        for index, name, constant in self._params:
            if index >= 0:
                picks.append(index)
                continue
            picks.append(len(ROW) + len(tail))
            tail.append(self._field[name].db_value(shared[name]) if name else constant)
        pick = operator.itemgetter(*picks)
        extra = tuple(tail)
        times: dict[Any, Any] = {None: None}
        known = times.get
        convert_time = self._time
        out = []
        append = out.append
        for dispatch_id, path, parent, size, mtime_ns, inode, status, start, end, sort in rows:
            # The id and the parent are parts of the path, which holds no
            # NUL: all three are storable as they are if it is ASCII.
            if not path.isascii():
                dispatch_id, path, parent = storable(dispatch_id), storable(path), storable(parent)
            if status is not None:
                status = storable(status)
            # The few minutes a batch holds, each converted once.
            start_value = known(start, times)
            if start_value is times:
                start_value = times[start] = convert_time(start)
            end_value = known(end, times)
            if end_value is times:
                end_value = times[end] = convert_time(end)
            sort_value = known(sort, times)
            if sort_value is times:
                sort_value = times[sort] = convert_time(sort)
            append(pick((
                dispatch_id, path, parent, size, mtime_ns, inode,
                status, start_value, end_value, sort_value, *extra,
            )))  # fmt: skip
        return out

    def run(self, database: pw.Database, params: list[tuple[Any, ...]]) -> int:
        """Insert the bound rows; how many were new."""
        if self._many is None:
            cursor = database.cursor()
            cursor.executemany(self.sql, params)
            return int(cursor.rowcount)
        written = 0
        per = self.rows_per_statement
        for start in range(0, len(params), per):
            chunk = params[start : start + per]
            flat = list(itertools.chain.from_iterable(chunk))
            written += database.execute_sql(self._many(len(chunk)), flat).rowcount
        return written


def _variable_limit(database: pw.SqliteDatabase) -> int:
    getlimit = getattr(database.connection(), "getlimit", None)
    if getlimit is None:  # Python before 3.11
        return 999
    import sqlite3

    return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


# By the scope's compiled statement: made again with it (a new database).
_listings: weakref.WeakKeyDictionary[Compiled, _Listing] = weakref.WeakKeyDictionary()


def _listing(scope: Scope) -> _Listing:
    compiled = scope.statement(build_listing)
    listing = _listings.get(compiled)
    if listing is None:
        listing = _listings[compiled] = _Listing(scope)
    return listing


def listing_batch(scope: Scope, rows: list[tuple[Any, ...]], shared: Mapping[str, object]) -> Batch:
    """Provisional records (``ROW`` tuples; ``shared``, the values common to
    all of them) bound for ``list_new``: the Python half of writing them,
    for the thread that made them."""
    params = _listing(scope).bind(rows, {**shared, "host": scope.host})
    return Batch(len(params), None, params)


def list_new(scope: Scope, batch: Batch) -> int:
    """Write provisional records for dispatches that have no record yet
    (a dispatch with one keeps it), in one transaction; how many."""
    listing = _listing(scope)

    def write() -> int:
        written = listing.run(scope.database, batch.params)
        scope.compact_counts()
        return written

    return engine.retrying_transaction(scope.database, write)


def listed_under(scope: Scope, folder: str) -> list[tuple[str, str]]:
    """(id, folder) of this host's provisional records under ``folder``."""
    D = scope.tables.Dispatch
    query = D.select(D.dispatch_id, D.path).where(
        (D.host == scope.host) & listing_only(D) & under_range(D.path, folder)
    )
    return list(query.tuples())


def drop_listed(scope: Scope, dispatch_ids: list[str]) -> int:
    """Delete these records if they are still provisional; how many."""
    D = scope.tables.Dispatch
    dropped = 0
    with scope.database.atomic():
        for chunk in chunks(dispatch_ids):
            dropped += (
                D.delete()
                .where(D.dispatch_id.in_(chunk) & (D.host == scope.host) & listing_only(D))
                .execute()
            )
    return dropped


def drop_misnamed(scope: Scope, path: str) -> None:
    """The folder was listed under its name, but the pickle names another
    dispatch: the provisional record under the name goes."""
    D = scope.tables.Dispatch
    D.delete().where(
        (D.dispatch_id == storable(os.path.basename(path)))
        & (D.host == scope.host)
        & (D.path == path)
        & listing_only(D)
    ).execute()
