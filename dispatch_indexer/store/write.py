"""Writing reads: each read's location, its dispatch row (if it is the copy
to show) and its bytes, a batch in one transaction, through statements
compiled once (``statements``).

Every write is an upsert that decides for itself, against the row as
committed, whether it replaces what is shown (``_supersedes``), so that
several writers at once (daemons of several hosts on one PostgreSQL
server) give the result one writer would.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import peewee as pw

from ..records import ORIGIN_RANKS, DispatchRecord
from . import engine, provisional
from .models import Dispatch, EncodedJSON, Location
from .scope import IN_CHUNK, Scope, chunks, utcnow
from .statements import Slot, slots

if TYPE_CHECKING:  # the reader modules load in the processes that read
    from ..read.reader import ReadOutcome

# The columns a read's data fills in. A failed read of a dispatch read well
# before leaves them as they are (and the dispatch's place in the listing).
_DATA_COLUMNS = frozenset(
    {
        "status",
        "lattice_name",
        "start_time",
        "end_time",
        "error",
        "num_nodes",
        "pickled_results_dir",
        "nodes",
        "result",
        "document",
        "sha256",
        "last_event",
        "sort_time",
        "read_at",
    }
)
# The columns each read writes: all of the table's (the models are the one
# list of them), but for ``hidden``, which only hiding sets (``forget.hide``).
_LOCATION_COLUMNS = [f.name for f in Location._meta.sorted_fields]
_DISPATCH_COLUMNS = [f.name for f in Dispatch._meta.sorted_fields if f.name != "hidden"]
# What one copy of a dispatch knows of it for all copies: kept from the
# stored copy when the copy written does not know it, and filled in from a
# copy not shown (``build_fill``).
_KEPT_IF_UNKNOWN = ("lattice_name", "num_nodes", "parent_dispatch_id", "parent_node_id")
_FILLED = ("lattice_name", "num_nodes")
# The dispatch columns a read does not copy from its record's field of the
# same name (``_dispatch_row``); it copies every other one.
_COMPUTED = frozenset(
    {"host", "missing", "updated_at", "first_seen", "nodes", "document", "sort_time", "read_at"}
)
_COPIED = [name for name in _DISPATCH_COLUMNS if name not in _COMPUTED]


@dataclass
class ApplyResult:
    new: int = 0
    updated: int = 0
    unreadable: int = 0


def apply(
    scope: Scope, outcomes: Iterable[ReadOutcome], now: dt.datetime | None = None
) -> ApplyResult:
    """Write one batch of reads in one transaction.

    Correct with other writers at once (the daemons of several hosts on
    one PostgreSQL server): whether a read replaces the copy shown is
    decided inside its upsert, against the row as committed
    (``_supersedes``), never from an earlier SELECT that another writer
    could have made stale; the server locks the row for the upsert, so
    the stored bytes written after the batch's rows, in the same
    transaction, always go with the row that was written. Every writer takes its row locks in one
    order, its own locations by path and then dispatches by id, so
    writers queue rather than deadlock; a transaction that loses a
    deadlock anyway (with ``forget.forget_locations`` of another host) is
    run again (``engine.retrying_transaction``). SQLite has one writer at a
    time and takes the very same path.
    """
    now = now or utcnow()
    outcomes = [o for o in outcomes if not o.transient]
    if not outcomes:
        return ApplyResult()
    # Copies of one dispatch keep their order: the sort is stable.
    outcomes.sort(key=lambda o: o.record.dispatch_id)
    return engine.retrying_transaction(scope.database, lambda: _apply(scope, outcomes, now))


def _apply(scope: Scope, outcomes: list[ReadOutcome], now: dt.datetime) -> ApplyResult:
    result = ApplyResult()
    location = scope.statement(build_location)
    bind_location = location.binder({"host": scope.host, "seen_at": now})
    records = sorted((o.record for o in outcomes), key=lambda r: r.path)
    location.run_many([bind_location(_location_row(record)) for record in records])
    known = _existing(scope, sorted({o.record.dispatch_id for o in outcomes}))
    dispatch = scope.statement(build_dispatch)
    bind_dispatch = dispatch.binder(
        {"host": scope.host, "missing": False, "updated_at": now, "first_seen": now}
    )
    blob = scope.statement(build_blob)
    # Written after every dispatch row of the batch, in its order (a later
    # copy's bytes last), still in the transaction that holds those rows.
    blobs: list[list[Any]] = []
    for outcome in outcomes:
        record = outcome.record
        if record.dispatch_id != os.path.basename(record.path):
            provisional.drop_misnamed(scope, record.path)
        if not dispatch.run_params(bind_dispatch(_dispatch_row(outcome, now))):
            _fill(scope, record)
            continue  # the copy shown stays: it is further along
        if record.unreadable is None and outcome.data is not None:
            blobs.append(
                blob.params(
                    {
                        "dispatch_id": record.dispatch_id,
                        "data": outcome.data,
                        "sha256": record.sha256 or "",
                        "encoding": outcome.data_encoding,
                    }
                )
            )
        if record.dispatch_id in known:
            result.updated += 1
        else:
            result.new += 1
            known.add(record.dispatch_id)
        if record.unreadable:
            result.unreadable += 1
    blob.run_many(blobs)
    scope.compact_counts()
    return result


def _existing(scope: Scope, ids: list[str]) -> set[str]:
    """Which of these dispatches have a record (for counting new ones)."""
    statement = scope.statement(_build_existing)
    found: set[str] = set()
    for chunk in chunks(ids):
        # Every chunk as long as the statement's list: a repeated id changes nothing.
        chunk = chunk + chunk[-1:] * (IN_CHUNK - len(chunk))
        found.update(row[0] for row in statement.select_each(chunk))
    return found


def _build_existing(scope: Scope) -> tuple[type[pw.Model], pw.Query]:
    D = scope.tables.Dispatch
    ids = [pw.Value(Slot("dispatch_id"), converter=False) for _ in range(IN_CHUNK)]
    # A provisional record is not a record yet.
    return D, D.select(D.dispatch_id).where(D.dispatch_id.in_(ids) & ~provisional.listing_only(D))


def origin_rank(column: pw.Field | pw.ColumnBase) -> pw.Expression:
    """``records.ORIGIN_RANKS`` of an origin column, in SQL (NULL, a
    result.pkl's, ranks first)."""
    ranked = [(column == origin, rank) for origin, rank in ORIGIN_RANKS.items() if rank]
    return pw.Case(None, ranked, 0)


def _supersedes(scope: Scope) -> pw.Expression:
    """Whether the copy being written (``EXCLUDED``) is the one to show
    rather than the stored one (``dispatch``), in the upsert's WHERE.

    First by what each copy was read from (``records.ORIGIN_RANKS``): a
    more authoritative copy always replaces a less authoritative one (a
    server's status wins over what a client's caches suggest), and a less
    authoritative one replaces a more authoritative one only once that is
    gone (missing, or no location row left). Between copies of one rank:

    - it is a new read of the very folder shown (same host and path);
    - the copy shown is missing;
    - it is further along: later times recorded inside the result, or
      with equal (or unknown) times a newer file; an exact tie goes to
      the writer only on the host already shown, so two hosts holding
      identical copies never take a record from each other;
    - the folder shown is gone without a scan having said so yet (no
      location row: that host forgot it).
    """
    D, L, E = scope.tables.Dispatch, scope.tables.Location, pw.EXCLUDED
    same = (E.host == D.host) & (E.path == D.path)
    both_times = (
        E.last_event.is_null(False) & D.last_event.is_null(False) & (E.last_event != D.last_event)
    )
    new_mtime, old_mtime = pw.fn.COALESCE(E.mtime_ns, 0), pw.fn.COALESCE(D.mtime_ns, 0)
    newer = pw.Case(
        None,
        [(both_times, E.last_event > D.last_event)],
        (new_mtime > old_mtime) | ((new_mtime == old_mtime) & (E.host == D.host)),
    )
    shown_gone = ~pw.fn.EXISTS(L.select(pw.SQL("1")).where((L.host == D.host) & (L.path == D.path)))
    gone = (D.missing == True) | shown_gone  # noqa: E712
    new_rank, old_rank = origin_rank(E.origin), origin_rank(D.origin)
    return pw.Case(
        None,
        [(new_rank < old_rank, True), (new_rank > old_rank, gone)],
        same | gone | newer,
    )


def build_location(scope: Scope) -> tuple[type[pw.Model], pw.Query]:
    L = scope.tables.Location
    row = slots(_LOCATION_COLUMNS)
    keys = ("host", "path")
    query = L.insert(row).on_conflict(
        conflict_target=[getattr(L, k) for k in keys],
        preserve=[getattr(L, c) for c in _LOCATION_COLUMNS if c not in keys],
    )
    return L, query


def build_blob(scope: Scope) -> tuple[type[pw.Model], pw.Query]:
    B = scope.tables.ResultBlob
    query = B.insert(slots(["dispatch_id", "data", "sha256", "encoding"])).on_conflict(
        conflict_target=[B.dispatch_id], preserve=[B.data, B.sha256, B.encoding]
    )
    return B, query


def build_dispatch(scope: Scope) -> tuple[type[pw.Model], pw.Query]:
    D, E = scope.tables.Dispatch, pw.EXCLUDED
    # A good read, or nothing good to keep: take the data. A failed read
    # of a dispatch read well before keeps its data and its place in the
    # listing. first_seen (and hidden) never change.
    take_data = E.unreadable.is_null() | D.read_at.is_null()
    update = {}
    for name in _DISPATCH_COLUMNS:
        if name in ("dispatch_id", "first_seen"):
            continue
        column, value = getattr(D, name), getattr(E, name)
        if name in _KEPT_IF_UNKNOWN:
            value = pw.fn.COALESCE(value, column)
        update[column] = (
            pw.Case(None, [(take_data, value)], column) if name in _DATA_COLUMNS else value
        )
    query = D.insert(slots(_DISPATCH_COLUMNS)).on_conflict(
        conflict_target=[D.dispatch_id], update=update, where=_supersedes(scope)
    )
    return D, query


def _build_fill(name: str) -> Callable[[Scope], tuple[type[pw.Model], pw.Query]]:
    """Fill in one column the copy shown does not know from a copy that does."""

    def build(scope: Scope) -> tuple[type[pw.Model], pw.Query]:
        D = scope.tables.Dispatch
        values = slots(["dispatch_id", name])
        column = getattr(D, name)
        query = D.update({column: values[name]}).where(
            (D.dispatch_id == values["dispatch_id"]) & column.is_null()
        )
        return D, query

    return build


# One statement per column (each compiled once): a row is written only
# where it gains something, as every write of a row is counted (``counters``).
_FILLS = {name: _build_fill(name) for name in _FILLED}


def _location_row(record: DispatchRecord) -> dict[str, Any]:
    """A read's location row, but for its host and ``seen_at`` (``_apply``)."""
    return {
        "path": record.path,
        "dispatch_id": record.dispatch_id,
        "root": record.root,
        "size": record.size or 0,
        "mtime_ns": record.mtime_ns or 0,
        "inode": record.inode or 0,
        "last_event": record.last_event,
        "unreadable": record.unreadable,
        "origin": record.origin,
    }


def _fill(scope: Scope, record: DispatchRecord) -> None:
    """After a read that is not the copy shown: a less authoritative copy
    may still know the workflow's name or its task count where the one
    shown does not (a client's download names its workflow only from its
    source, and counts only the tasks it fetched; the client's manifest
    names both)."""
    if record.unreadable is not None:
        return
    for name, build in _FILLS.items():
        value = getattr(record, name)
        if value is not None:
            scope.statement(build).run({"dispatch_id": record.dispatch_id, name: value})


def _dispatch_row(outcome: ReadOutcome, now: dt.datetime) -> dict[str, Any]:
    """A read's dispatch row, but for the columns every row of a batch
    shares (``_apply``)."""
    record = outcome.record
    row = {name: getattr(record, name) for name in _COPIED}
    # Encoded by the reader process already (``read.reader.compact``), or here.
    if outcome.nodes_json is not None:
        row["nodes"] = EncodedJSON(outcome.nodes_json)
        row["result"] = _encoded(outcome.result_json)
    else:
        row["nodes"] = [n.to_json() for n in record.nodes]
    row["document"] = _encoded(outcome.document_json)
    row["sort_time"] = record.start_time or _from_ns(record.mtime_ns) or now
    row["read_at"] = now if record.unreadable is None else None
    return row


def _encoded(text: str | None) -> EncodedJSON | None:
    return EncodedJSON(text) if text is not None else None


def _from_ns(mtime_ns: int | None) -> dt.datetime | None:
    if mtime_ns is None:
        return None
    return dt.datetime.fromtimestamp(mtime_ns / 1e9, dt.timezone.utc)
