"""Reading the index: records, pages of them, their bytes and documents,
counts, and what a scan compares the disk with. Rows go in, records come
out: nothing here hands a database row to a caller.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
from collections.abc import Iterator
from dataclasses import dataclass

import peewee as pw

from ..read.compressed import stored_bytes
from ..records import FINAL_STATUSES, DispatchRecord, FileStat, NodeSummary
from . import fulltext, sorting
from . import tags as tags_mod
from .models import Dispatch
from .query import Cursor, ListQuery, Page
from .scope import Scope, under_range

# A stored location's (path, size, mtime_ns, inode).
StoredStat = tuple[str, int, int, int]


@dataclass(frozen=True)
class KnownLocation:
    dispatch_id: str
    stat: FileStat
    # The newest time recorded for this copy: a server's dispatch can change
    # in its database with no file on disk changing (``scan.server``).
    last_event: dt.datetime | None = None


# ---- one record -------------------------------------------------------------


def get(scope: Scope, dispatch_id: str) -> DispatchRecord | None:
    D = scope.tables.Dispatch
    row = D.get_or_none(D.dispatch_id == dispatch_id)
    return _labelled(scope, [_record(row)])[0] if row is not None else None


def result_bytes(scope: Scope, dispatch_id: str) -> bytes | None:
    B = scope.tables.ResultBlob
    row = B.get_or_none(B.dispatch_id == dispatch_id)
    return stored_bytes(bytes(row.data), row.encoding) if row is not None else None


def result_document(scope: Scope, dispatch_id: str) -> dict | None:
    """Covalent's UI document of a dispatch (see ``read.document``); None
    for an unknown id or a dispatch never read well."""
    D = scope.tables.Dispatch
    row = D.select(D.document).where(D.dispatch_id == dispatch_id).tuples().first()
    return row[0] if row is not None else None


def sub_workflows(scope: Scope, dispatch_id: str) -> list[tuple[str, int | None]]:
    """The sub-workflows a dispatch ran: (their id, the task that ran
    each), by task (an index on parent_dispatch_id finds them)."""
    D = scope.tables.Dispatch
    query = (
        D.select(D.dispatch_id, D.parent_node_id)
        .where(D.parent_dispatch_id == dispatch_id)
        .order_by(D.parent_node_id, D.dispatch_id)
        .tuples()
    )
    return list(query)


# ---- listings ---------------------------------------------------------------


def page(scope: Scope, q: ListQuery) -> Page:
    """One page in ``q``'s order; see ``query`` for the cursor's rules."""
    D = scope.tables.Dispatch
    key = sorting.key(scope.database, D, q.sort)
    descending = q.order == "desc"
    ties = D.dispatch_id.desc() if descending else D.dispatch_id.asc()
    columns = _listing_columns(D)
    if q.sort != sorting.DEFAULT_SORT:
        columns.append(key.alias("sort_key"))
    query = D.select(*columns).order_by(key.desc() if descending else key.asc(), ties)
    where = _filters(scope, D, q)
    if q.cursor is not None:
        value, last = q.cursor.value, q.cursor.dispatch_id
        if descending:
            where.append((key < value) | ((key == value) & (D.dispatch_id < last)))
        else:
            where.append((key > value) | ((key == value) & (D.dispatch_id > last)))
    if where:
        query = query.where(*where)
    if q.limit is not None:
        query = query.limit(q.limit + 1)  # one more says whether a next page exists
    rows = list(query)
    next_cursor = None
    if q.limit is not None and len(rows) > q.limit:
        rows = rows[: q.limit]
        last_row = rows[-1] if rows else None
        if last_row is not None:
            next_cursor = Cursor(
                last_row.sort_time,
                last_row.dispatch_id,
                q.sort,
                q.order,
                getattr(last_row, "sort_key", None),
            ).encode()
    return Page(_labelled(scope, [_record(row) for row in rows]), next_cursor)


def iterate(scope: Scope, q: ListQuery, chunk: int = 1000) -> Iterator[DispatchRecord]:
    """Every record matching ``q``, in its order, a page at a time."""
    cursor = None
    while True:
        found = page(scope, dataclasses.replace(q, limit=chunk, cursor=cursor))
        yield from found
        if found.next_cursor is None:
            return
        cursor = Cursor.decode(found.next_cursor)


def _listing_columns(D: type[Dispatch]) -> list[pw.Field]:
    # Everything a record shows; large columns that only get() needs stay out.
    heavy = {"document"}
    return [f for f in D._meta.sorted_fields if f.name not in heavy]


def _filters(scope: Scope, D: type[Dispatch], q: ListQuery) -> list[pw.Expression]:
    where: list[pw.Expression] = []
    if q.status:
        where.append(D.status.in_(list(q.status)))
    if q.results_dir:
        where.append(under_range(D.results_dir, q.results_dir))
    if q.lattice_name:
        where.append(D.lattice_name == q.lattice_name)
    if q.since is not None:
        where.append(D.sort_time >= q.since)
    if q.until is not None:
        where.append(D.sort_time <= q.until)
    if q.text:
        where.append(fulltext.condition(scope.database, D, q.text))
    if q.tag:
        T = scope.tables.Tag
        where.append(D.dispatch_id.in_(T.select(T.dispatch_id).where(T.tag == q.tag)))
    if not q.include_missing:
        where.append(D.missing == False)  # noqa: E712 - peewee builds SQL from ==
    if not q.include_hidden:
        where.append(D.hidden == False)  # noqa: E712
    return where


# ---- counts -----------------------------------------------------------------


def counts(scope: Scope, q: ListQuery | None = None) -> dict[str, int]:
    """Records by status (matching ``q``'s filters, if given)."""
    q = q if q is not None else ListQuery()
    if _flags_only(q):
        return _counted_by_status(scope, q)
    D = scope.tables.Dispatch
    query = D.select(D.status, pw.fn.COUNT(D.dispatch_id)).group_by(D.status)
    where = _filters(scope, D, q)
    if where:
        query = query.where(*where)
    return {status or "UNKNOWN": count for status, count in query.tuples()}


def _flags_only(q: ListQuery) -> bool:
    """Whether ``q`` filters on nothing but the hidden and missing flags, which
    the count table is keyed by (a limit or a cursor changes no count). A
    filter added to ListQuery later is counted from the records until the
    table can answer it."""
    plain = ListQuery(
        include_missing=q.include_missing,
        include_hidden=q.include_hidden,
        sort=q.sort,
        order=q.order,
        limit=q.limit,
        cursor=q.cursor,
    )
    return q == plain


def _counted_by_status(scope: Scope, q: ListQuery) -> dict[str, int]:
    """``counts`` from the count table (``counters``): a few rows to
    sum however many records there are."""
    C = scope.tables.DispatchCount
    total = pw.fn.SUM(C.n)
    query = C.select(C.status, total).group_by(C.status).having(total != 0)
    where: list[pw.Expression] = []
    if not q.include_missing:
        where.append(C.missing == False)  # noqa: E712 - peewee builds SQL from ==
    if not q.include_hidden:
        where.append(C.hidden == False)  # noqa: E712
    if where:
        query = query.where(*where)
    # SUM is NUMERIC on PostgreSQL.
    return {status or "UNKNOWN": int(count) for status, count in query.tuples()}


def count_by_root(scope: Scope) -> dict[str, int]:
    """This host's records by root (hidden and missing ones too), from
    the count table."""
    C = scope.tables.DispatchCount
    total = pw.fn.SUM(C.n)
    query = (
        C.select(C.root, total)
        .where(C.host == scope.host)
        .group_by(C.root)
        .having(total != 0)
        .tuples()
    )
    return {root: int(count) for root, count in query if root is not None}


def count_by_host(scope: Scope) -> dict[str, int]:
    """Records by the host whose copy is shown (hidden and missing ones
    too), from the count table."""
    C = scope.tables.DispatchCount
    total = pw.fn.SUM(C.n)
    query = C.select(C.host, total).group_by(C.host).having(total != 0).tuples()
    return {host: int(count) for host, count in query}


def disk_use(scope: Scope) -> tuple[dict[str, int], dict[str, int]]:
    """Bytes in the dispatch folders of this host's roots (by root) and of
    every host's records (by host), hidden and missing ones too, from the
    count table (``counters``): a few rows however many records there are.
    Folders not measured yet count nothing."""
    C = scope.tables.DispatchCount
    total = pw.fn.SUM(C.bytes)
    query = C.select(C.host, C.root, total).group_by(C.host, C.root).tuples()
    by_root: dict[str, int] = {}
    by_host: dict[str, int] = {}
    for host, root, total in query:
        by_host[host] = by_host.get(host, 0) + int(total or 0)
        if host == scope.host and root is not None:
            by_root[root] = by_root.get(root, 0) + int(total or 0)
    return by_root, by_host


# ---- what a scan compares the disk with ---------------------------------------


def known_locations(scope: Scope, root: str) -> dict[str, KnownLocation]:
    """Every folder under ``root`` seen by earlier scans, with its stat and
    last event."""
    L = scope.tables.Location
    query = L.select(L.path, L.dispatch_id, L.size, L.mtime_ns, L.inode, L.last_event).where(
        (L.host == scope.host) & under_range(L.path, root)
    )
    # The driver's own rows, not peewee's: a server's full sync asks for
    # 100,000 of them, and converting each column through its field was
    # 1.1 s of 1.7. Paths and numbers come as stored; only the time goes
    # through its field's converter.
    as_time = L.last_event.python_value
    return {
        path: KnownLocation(dispatch_id, FileStat(size, mtime_ns, inode), as_time(last_event))
        for path, dispatch_id, size, mtime_ns, inode, last_event in scope.database.execute(query)
    }


def stored_stats(scope: Scope, folder: str, chunk: int = 20_000) -> Iterator[StoredStat]:
    """This host's locations under ``folder`` (as ``known_locations``),
    as (path, size, mtime_ns, inode) rows in path order.

    What a rescan compares the walk with, without holding every location
    in memory: the rows are read a chunk at a time, each a fresh query
    resuming after the last path, so that no cursor stays open while the
    scan writes. (Reading the next chunk in a thread, beside the walk,
    was no faster on two cores.)
    """
    after: str | None = None
    while True:
        rows = _stat_chunk(scope, folder, after, chunk)
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1][0]


def _stat_chunk(scope: Scope, folder: str, after: str | None, chunk: int) -> list[StoredStat]:
    L = scope.tables.Location
    query = (
        L.select(L.path, L.size, L.mtime_ns, L.inode)
        .where((L.host == scope.host) & under_range(L.path, folder))
        .order_by(L.path)
        .limit(chunk)
    )
    if after is not None:
        query = query.where(L.path > after)
    sql, params = query.sql()
    # Plain rows as the driver makes them, skipping peewee's row building.
    return scope.database.execute_sql(sql, params).fetchall()


def unsettled_paths(scope: Scope, root: str) -> list[str]:
    """Folders of dispatches under ``root`` that can still change: not
    in a final status, or not readable yet.

    Found from this host's locations under ``root`` (a range of their
    primary key), each joined to its dispatch by id: the dispatch table
    has no index on its path, and the daemon asks this for every new
    folder, where a scan of 100,000 records cost more than a live save.
    """
    D, L = scope.tables.Dispatch, scope.tables.Location
    query = (
        L.select(L.path)
        .join(D, on=(D.dispatch_id == L.dispatch_id))
        .where(
            (L.host == scope.host)
            & under_range(L.path, root)
            & (D.host == L.host)
            & (D.path == L.path)
            & (D.missing == False)  # noqa: E712 - peewee builds SQL from ==
            & (
                D.status.not_in(sorted(FINAL_STATUSES))
                | D.status.is_null()
                | D.unreadable.is_null(False)
            )
        )
        .tuples()
    )
    return [row[0] for row in query]


# ---- rows to records ----------------------------------------------------------


# A record's fields from a row's columns of the same name, in the record's
# order; ``_record`` then converts the few that are not kept as they are.
# The fields that are no column (tags, note) come from their own tables.
_FIELD_NAMES = [f.name for f in dataclasses.fields(DispatchRecord)]
_COLUMN_FIELDS = [name for name in _FIELD_NAMES if name in Dispatch._meta.fields]
_COLUMNS_AS_FIELDS = operator.attrgetter(*_COLUMN_FIELDS)


def _labelled(scope: Scope, records: list[DispatchRecord]) -> list[DispatchRecord]:
    """``records`` with their tags and notes (one query for a page)."""
    found = tags_mod.labels(scope, [r.dispatch_id for r in records])
    for record in records:
        labels = found[record.dispatch_id]
        record.tags, record.note = list(labels.tags), labels.note
    return records


def _record(row: Dispatch) -> DispatchRecord:
    record = DispatchRecord(**dict(zip(_COLUMN_FIELDS, _COLUMNS_AS_FIELDS(row), strict=True)))
    record.nodes = [
        NodeSummary(
            node_id=n.get("node_id"),
            name=n.get("name"),
            status=n.get("status"),
            start_time=_parse_time(n.get("start_time")),
            end_time=_parse_time(n.get("end_time")),
            error=n.get("error"),
        )
        for n in (row.nodes or [])
    ]
    record.missing = bool(row.missing)
    record.hidden = bool(row.hidden)
    return record


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
