"""The orders a listing can be sorted in, and an index behind each.

Each order is a key that is never NULL (unknown sorts as the smallest:
first going up, last going down) and the dispatch id to break ties, so
that a page is a range of one index and its cursor the key of its last
record (``query``). ``start_time`` is the listing's own order, its
``sort_time`` column (the start time, else when the file was written); the
others are expressions with an index on each.

**Engine-specific**: the expressions differ (SQLite keeps times as text,
PostgreSQL as timestamps); each is written once here, as the SQL that both
its index and the queries use, since an index on an expression serves a
query only when the query spells the expression the same way.
"""

from __future__ import annotations

import peewee as pw

from ..errors import BadInputError
from . import engine

SORTS = ("start_time", "end_time", "duration", "lattice_name", "status", "size")
ORDERS = ("desc", "asc")
DEFAULT_SORT, DEFAULT_ORDER = "start_time", "desc"

# Seconds since the epoch of a time column, or -1 if it is NULL.
_SQLITE_KEYS = {
    "end_time": 'COALESCE((julianday("end_time") - 2440587.5) * 86400.0, -1)',
    "duration": 'COALESCE((julianday("end_time") - julianday("start_time")) * 86400.0, -1)',
    "lattice_name": "COALESCE(\"lattice_name\", '')",
    "status": "COALESCE(\"status\", '')",
    "size": 'COALESCE("folder_size", -1)',
}
_POSTGRES_KEYS = {
    "end_time": "COALESCE(date_part('epoch', \"end_time\"), -1)",
    "duration": "COALESCE(date_part('epoch', \"end_time\") "
    "- date_part('epoch', \"start_time\"), -1)",
    "lattice_name": "COALESCE(\"lattice_name\", '')",
    "status": "COALESCE(\"status\", '')",
    "size": 'COALESCE("folder_size", -1)',
}


def check(sort: str | None, order: str | None) -> tuple[str, str]:
    """(sort, order), defaults filled in; a clear error for an unknown one."""
    sort = (sort or DEFAULT_SORT).strip().lower()
    order = (order or DEFAULT_ORDER).strip().lower()
    if sort not in SORTS:
        raise BadInputError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if order not in ORDERS:
        raise BadInputError(f"order must be asc or desc, not {order!r}")
    return sort, order


def key(database: pw.Database, D: type[pw.Model], sort: str) -> pw.ColumnBase:
    """The sort key of ``sort`` (never NULL), as a query's expression."""
    if sort == "start_time":
        return D.sort_time
    keys = _POSTGRES_KEYS if engine.is_postgres(database) else _SQLITE_KEYS
    return pw.SQL(keys[sort])


def install(database: pw.Database, if_missing: bool = False) -> None:
    """An index behind each sort (migration step 9; again, ``if_missing``,
    at the end of a bulk build, which drops them: ``bulk``)."""
    keys = _POSTGRES_KEYS if engine.is_postgres(database) else _SQLITE_KEYS
    unless = "IF NOT EXISTS " if if_missing else ""
    for sort, expression in keys.items():
        name = f'{unless}"dispatch_by_{sort}"'
        database.execute_sql(f'CREATE INDEX {name} ON "dispatch" (({expression}), "dispatch_id")')


def drop(database: pw.Database) -> None:
    """Drop the sort indexes (a bulk build makes them again once, at its end)."""
    for sort in _SQLITE_KEYS:
        database.execute_sql(f'DROP INDEX IF EXISTS "dispatch_by_{sort}"')
