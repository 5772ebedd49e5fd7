"""The provisional records of the listing pass (``scan.listing``): written
in batches before any result.pkl is read, replaced by the full reads, and
dropped when their folder vanished unread.
"""

from __future__ import annotations

import operator
import os
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import peewee as pw

from ..text import storable
from . import engine
from .models import Dispatch
from .scope import Scope, chunks, under_range
from .statements import Compiled, Rows, slots

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


class _Listing:
    """How a ``ROW`` tuple and the values shared by a batch become the
    parameters of ``build_listing``'s compiled statement, which runs them
    as INSERTs of many rows (``Compiled.run_rows``)."""

    def __init__(self, compiled: Compiled) -> None:
        self.compiled = compiled
        # Per placeholder: a ROW position, or the converter and name of a
        # shared value, or a constant peewee put in the statement.
        self._params: list[tuple[int, Callable[[Any], Any] | None, Any]] = []
        for convert, name in compiled.binds:
            if convert is not None and name in ROW:
                self._params.append((ROW.index(name), None, None))
            else:
                self._params.append((-1, convert, name))
        # The three times' columns convert alike.
        self._time = next(convert for convert, name in compiled.binds if name == "sort_time")

    def bind(self, rows: list[tuple[Any, ...]], shared: Mapping[str, Any]) -> Rows:
        """Each row's parameters, converted as peewee's fields convert them."""
        # The shared values, then peewee's constants, follow a row's values.
        tail: list[Any] = []
        picks: list[int] = []
        for index, convert, name in self._params:
            if index >= 0:
                picks.append(index)
                continue
            picks.append(len(ROW) + len(tail))
            tail.append(convert(shared[name]) if convert is not None else name)
        pick = operator.itemgetter(*picks)
        extra = tuple(tail)
        # A batch holds a few minutes, each converted once (the field's cache).
        time = self._time
        out = []
        append = out.append
        for dispatch_id, path, parent, size, mtime_ns, inode, status, start, end, sort in rows:
            # The id and the parent are parts of the path, which holds no
            # NUL: all three are storable as they are if it is ASCII.
            if not path.isascii():
                dispatch_id, path, parent = storable(dispatch_id), storable(path), storable(parent)
            if status is not None:
                status = storable(status)
            append(pick((
                dispatch_id, path, parent, size, mtime_ns, inode,
                status, time(start), time(end), time(sort), *extra,
            )))  # fmt: skip
        return out


# By the scope's compiled statement: made again with it (a new database).
_listings: weakref.WeakKeyDictionary[Compiled, _Listing] = weakref.WeakKeyDictionary()


def _listing(scope: Scope) -> _Listing:
    compiled = scope.statement(build_listing)
    listing = _listings.get(compiled)
    if listing is None:
        listing = _listings[compiled] = _Listing(compiled)
    return listing


def listing_batch(scope: Scope, rows: list[tuple[Any, ...]], shared: Mapping[str, object]) -> Rows:
    """Provisional records (``ROW`` tuples; ``shared``, the values common to
    all of them) bound for ``list_new``: the Python half of writing them,
    for the thread that made them."""
    return _listing(scope).bind(rows, {**shared, "host": scope.host})


def list_new(scope: Scope, batch: Rows) -> int:
    """Write provisional records for dispatches that have no record yet
    (a dispatch with one keeps it), in one transaction; how many."""
    statement = scope.statement(build_listing)

    def write() -> int:
        written = statement.run_rows(batch)
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
