"""Reads and writes of the index tables; rows go in and records come out.

The rules that keep the index right live here:

- a dispatch found in several folders shows the most recently written copy;
- a read that failed never overwrites data from an earlier good read;
- a folder that vanished is forgotten, and its dispatch falls back to another
  copy or, with none left, is marked missing (the record and bytes are kept).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import peewee as pw

from .models import Dispatch, Tables
from .query import Cursor, ListQuery, Page
from .reader import ReadOutcome
from .records import FINAL_STATUSES, DispatchRecord, FileStat, NodeSummary

# SQLite allows 999 (older builds) bound parameters per statement.
_IN_CHUNK = 500


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class KnownLocation:
    dispatch_id: str
    stat: FileStat


@dataclass
class ApplyResult:
    new: int = 0
    updated: int = 0
    unreadable: int = 0


def _chunks(items: list[str], size: int = _IN_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _under_range(field: pw.Field, folder: str) -> pw.Expression:
    """``field`` is ``folder`` or inside it, as a range an index can serve:
    every path inside "/a/b" sorts between "/a/b/" and "/a/b0" ("0" follows "/")."""
    folder = folder.rstrip("/") or "/"
    if folder == "/":
        return field.startswith("/")
    return (field == folder) | ((field >= folder + "/") & (field < folder + "0"))


class Store:
    def __init__(self, database: pw.Database, tables: Tables) -> None:
        self.database = database
        self.Dispatch = tables.Dispatch
        self.Location = tables.Location
        self.ResultBlob = tables.ResultBlob
        self.Root = tables.Root

    # ---- locations (change detection) -----------------------------------

    def known_locations(self, root: str) -> dict[str, KnownLocation]:
        """Every folder under ``root`` seen by earlier scans, with its stat."""
        query = (
            self.Location.select(
                self.Location.path,
                self.Location.dispatch_id,
                self.Location.size,
                self.Location.mtime_ns,
                self.Location.inode,
            )
            .where(_under_range(self.Location.path, root))
            .tuples()
        )
        return {
            path: KnownLocation(dispatch_id, FileStat(size, mtime_ns, inode))
            for path, dispatch_id, size, mtime_ns, inode in query.iterator()
        }

    # ---- writing --------------------------------------------------------

    def apply(self, outcomes: Iterable[ReadOutcome], now: dt.datetime | None = None) -> ApplyResult:
        """Write one batch of reads in one transaction."""
        now = now or utcnow()
        result = ApplyResult()
        outcomes = [o for o in outcomes if not o.transient]
        if not outcomes:
            return result
        with self.database.atomic():
            ids = sorted({o.record.dispatch_id for o in outcomes})
            current = self._current(ids)
            for outcome in outcomes:
                record = outcome.record
                self._put_location(record, now)
                existing = current.get(record.dispatch_id)
                if existing is not None and not self._supersedes(record, existing):
                    continue
                if existing is None:
                    result.new += 1
                else:
                    result.updated += 1
                if record.unreadable:
                    result.unreadable += 1
                self._put_dispatch(outcome, existing, now)
                good = record.unreadable is None or (existing is not None and existing.good)
                last_event = record.last_event or (existing.last_event if existing else None)
                current[record.dispatch_id] = _Current(
                    record.path, record.mtime_ns or 0, False, good, last_event
                )
        return result

    def _current(self, ids: list[str]) -> dict[str, _Current]:
        current: dict[str, _Current] = {}
        for chunk in _chunks(ids):
            query = (
                self.Dispatch.select(
                    self.Dispatch.dispatch_id,
                    self.Dispatch.path,
                    self.Dispatch.mtime_ns,
                    self.Dispatch.missing,
                    self.Dispatch.read_at,
                    self.Dispatch.last_event,
                )
                .where(self.Dispatch.dispatch_id.in_(chunk))
                .tuples()
            )
            for dispatch_id, path, mtime_ns, missing, read_at, last_event in query:
                current[dispatch_id] = _Current(
                    path, mtime_ns or 0, bool(missing), read_at is not None, last_event
                )
        return current

    def _supersedes(self, record: DispatchRecord, existing: _Current) -> bool:
        """Whether this read, rather than the stored copy, is the one to show."""
        if record.path == existing.path or existing.missing:
            return True
        if _newer_or_same(
            record.last_event, record.mtime_ns or 0, existing.last_event, existing.mtime_ns
        ):
            return True
        # The shown copy's folder may be gone without a scan having said so.
        return not self.Location.select().where(self.Location.path == existing.path).exists()

    def _put_location(self, record: DispatchRecord, now: dt.datetime) -> None:
        row = {
            "path": record.path,
            "dispatch_id": record.dispatch_id,
            "root": record.root,
            "size": record.size or 0,
            "mtime_ns": record.mtime_ns or 0,
            "inode": record.inode or 0,
            "last_event": record.last_event,
            "unreadable": record.unreadable,
            "seen_at": now,
        }
        _upsert(self.Location, row, key="path")

    def _put_dispatch(
        self, outcome: ReadOutcome, existing: _Current | None, now: dt.datetime
    ) -> None:
        record = outcome.record
        mtime = _from_ns(record.mtime_ns) or now
        row = {
            "dispatch_id": record.dispatch_id,
            "path": record.path,
            "results_dir": record.results_dir,
            "root": record.root,
            "size": record.size,
            "mtime_ns": record.mtime_ns,
            "inode": record.inode,
            "unreadable": record.unreadable,
            "missing": False,
            "source": record.source,
            "updated_at": now,
            "first_seen": now,
            "sort_time": mtime,
        }
        take_data = record.unreadable is None or existing is None or not existing.good
        if take_data:
            # A good read, or nothing better to keep: take every field.
            row.update(
                status=record.status,
                lattice_name=record.lattice_name,
                start_time=record.start_time,
                end_time=record.end_time,
                error=record.error,
                num_nodes=record.num_nodes,
                pickled_results_dir=record.pickled_results_dir,
                nodes=[n.to_json() for n in record.nodes],
                result=record.result,
                document=outcome.document,
                sha256=record.sha256,
                last_event=record.last_event,
                sort_time=record.start_time or mtime,
                read_at=now if record.unreadable is None else None,
            )
        # A failed read of a dispatch read well before keeps its data and
        # its place in the listing; first_seen never changes.
        keep = {"dispatch_id", "first_seen"} | (set() if take_data else {"sort_time"})
        _upsert(self.Dispatch, row, key="dispatch_id", keep=keep)
        if take_data and outcome.data is not None and record.unreadable is None:
            _upsert(
                self.ResultBlob,
                {
                    "dispatch_id": record.dispatch_id,
                    "data": outcome.data,
                    "sha256": record.sha256 or "",
                },
                key="dispatch_id",
            )

    def forget_locations(
        self, paths: list[str], now: dt.datetime | None = None
    ) -> tuple[int, list[str]]:
        """Forget folders that are gone.

        Returns how many dispatches became missing, and the folders of other
        copies that must be re-read because the copy shown was among those gone.
        """
        now = now or utcnow()
        missing = 0
        reread: list[str] = []
        with self.database.atomic():
            affected: set[str] = set()
            for chunk in _chunks(paths):
                affected.update(
                    row[0]
                    for row in self.Location.select(self.Location.dispatch_id)
                    .where(self.Location.path.in_(chunk))
                    .tuples()
                )
                self.Location.delete().where(self.Location.path.in_(chunk)).execute()
            gone = set(paths)
            for dispatch_id in sorted(affected):
                shown = self.Dispatch.get_or_none(self.Dispatch.dispatch_id == dispatch_id)
                if shown is None or shown.path not in gone:
                    continue
                other = self._best_location(dispatch_id)
                if other is not None:
                    reread.append(other)
                elif not shown.missing:
                    self.Dispatch.update(missing=True, updated_at=now).where(
                        self.Dispatch.dispatch_id == dispatch_id
                    ).execute()
                    missing += 1
        return missing, reread

    def sync_roots(self, roots: list[tuple[str, str]], now: dt.datetime | None = None) -> None:
        """Make the roots table mirror the config: (path, watch) pairs."""
        now = now or utcnow()
        with self.database.atomic():
            wanted = {path for path, _ in roots}
            self.Root.delete().where(self.Root.path.not_in(wanted) if wanted else True).execute()
            for path, watch in roots:
                self.Root.insert(path=path, watch=watch, added_at=now).on_conflict(
                    conflict_target=[self.Root.path], preserve=[self.Root.watch]
                ).execute()

    def forget_root(self, root: str) -> tuple[int, list[str]]:
        """Drop what was found under ``root``.

        Returns how many dispatches were deleted, and the folders of copies
        under other roots to re-read for dispatches that were shown from here.
        """
        with self.database.atomic():
            paths = [
                row[0]
                for row in self.Location.select(self.Location.path)
                .where(self.Location.root == root)
                .tuples()
            ]
            ids = [
                row[0]
                for row in self.Dispatch.select(self.Dispatch.dispatch_id)
                .where(self.Dispatch.root == root)
                .tuples()
            ]
            for chunk in _chunks(paths):
                self.Location.delete().where(self.Location.path.in_(chunk)).execute()
            reread: list[str] = []
            doomed: list[str] = []
            for dispatch_id in ids:
                other = self._best_location(dispatch_id)
                if other is None:
                    doomed.append(dispatch_id)
                else:
                    reread.append(other)
            for chunk in _chunks(doomed):
                self.ResultBlob.delete().where(self.ResultBlob.dispatch_id.in_(chunk)).execute()
                self.Dispatch.delete().where(self.Dispatch.dispatch_id.in_(chunk)).execute()
        return len(doomed), reread

    def _best_location(self, dispatch_id: str) -> str | None:
        """The folder of the most advanced remaining copy of a dispatch."""
        row = (
            self.Location.select(self.Location.path)
            .where(self.Location.dispatch_id == dispatch_id)
            .order_by(self.Location.last_event.desc(nulls="LAST"), self.Location.mtime_ns.desc())
            .first()
        )
        return row.path if row is not None else None

    # ---- reading --------------------------------------------------------

    def get(self, dispatch_id: str) -> DispatchRecord | None:
        row = self.Dispatch.get_or_none(self.Dispatch.dispatch_id == dispatch_id)
        return _record(row) if row is not None else None

    def result_bytes(self, dispatch_id: str) -> bytes | None:
        row = self.ResultBlob.get_or_none(self.ResultBlob.dispatch_id == dispatch_id)
        return bytes(row.data) if row is not None else None

    def list(self, q: ListQuery) -> Page:
        """One page newest first; see ``query`` for the cursor's rules."""
        D = self.Dispatch
        query = D.select(*self._listing_columns()).order_by(
            D.sort_time.desc(), D.dispatch_id.desc()
        )
        where = self._filters(q)
        if q.cursor is not None:
            after = q.cursor
            where.append(
                (D.sort_time < after.sort_time)
                | ((D.sort_time == after.sort_time) & (D.dispatch_id < after.dispatch_id))
            )
        if where:
            query = query.where(*where)
        if q.limit is not None:
            query = query.limit(q.limit + 1)  # one more says whether a next page exists
        records = [_record(row) for row in query]
        next_cursor = None
        if q.limit is not None and len(records) > q.limit:
            records = records[: q.limit]
            last = records[-1] if records else None
            if last is not None and last.sort_time is not None:
                next_cursor = Cursor(last.sort_time, last.dispatch_id).encode()
        return Page(records, next_cursor)

    def iterate(self, q: ListQuery, chunk: int = 1000) -> Iterator[DispatchRecord]:
        """Every record matching ``q``, newest first, a page at a time."""
        cursor = None
        while True:
            page = self.list(dataclasses.replace(q, limit=chunk, cursor=cursor))
            yield from page
            if page.next_cursor is None:
                return
            cursor = Cursor.decode(page.next_cursor)

    def _listing_columns(self) -> list[pw.Field]:
        # Everything a record shows; large columns that only get() needs stay out.
        heavy = {"document"}
        return [f for f in self.Dispatch._meta.sorted_fields if f.name not in heavy]

    def _filters(self, q: ListQuery) -> list[pw.Expression]:
        D = self.Dispatch
        where: list[pw.Expression] = []
        if q.status:
            where.append(D.status.in_(list(q.status)))
        if q.results_dir:
            where.append(_under_range(D.results_dir, q.results_dir))
        if q.lattice_name:
            where.append(D.lattice_name == q.lattice_name)
        if q.since is not None:
            where.append(D.sort_time >= q.since)
        if q.until is not None:
            where.append(D.sort_time <= q.until)
        if q.text:
            where.append(
                D.dispatch_id.contains(q.text)
                | D.lattice_name.contains(q.text)
                | D.path.contains(q.text)
                | D.error.contains(q.text)
            )
        if not q.include_missing:
            where.append(D.missing == False)  # noqa: E712 - peewee builds SQL from ==
        if not q.include_hidden:
            where.append(D.hidden == False)  # noqa: E712
        return where

    def counts(self, q: ListQuery | None = None) -> dict[str, int]:
        """Records by status (matching ``q``'s filters, if given)."""
        D = self.Dispatch
        query = D.select(D.status, pw.fn.COUNT(D.dispatch_id)).group_by(D.status)
        where = self._filters(q if q is not None else ListQuery())
        if where:
            query = query.where(*where)
        return {status or "UNKNOWN": count for status, count in query.tuples()}

    def delete(self, dispatch_ids: list[str]) -> int:
        """Remove records (and their stored bytes and copies); how many."""
        deleted = 0
        with self.database.atomic():
            for chunk in _chunks(dispatch_ids):
                self.ResultBlob.delete().where(self.ResultBlob.dispatch_id.in_(chunk)).execute()
                self.Location.delete().where(self.Location.dispatch_id.in_(chunk)).execute()
                deleted += (
                    self.Dispatch.delete().where(self.Dispatch.dispatch_id.in_(chunk)).execute()
                )
        return deleted

    def unsettled_paths(self, root: str) -> list[str]:
        """Folders of dispatches under ``root`` that can still change: not
        in a final status, or not readable yet."""
        query = (
            self.Dispatch.select(self.Dispatch.path)
            .where(
                _under_range(self.Dispatch.path, root)
                & (self.Dispatch.missing == False)  # noqa: E712 - peewee builds SQL from ==
                & (
                    self.Dispatch.status.not_in(sorted(FINAL_STATUSES))
                    | self.Dispatch.status.is_null()
                    | self.Dispatch.unreadable.is_null(False)
                )
            )
            .tuples()
        )
        return [row[0] for row in query]

    def count_by_root(self) -> dict[str, int]:
        query = (
            self.Dispatch.select(self.Dispatch.root, pw.fn.COUNT(self.Dispatch.dispatch_id))
            .group_by(self.Dispatch.root)
            .tuples()
        )
        return {root: count for root, count in query if root is not None}

    def result_document(self, dispatch_id: str) -> dict | None:
        """Covalent's UI document of a dispatch (see ``document``); None for
        an unknown id or a dispatch never read well."""
        row = (
            self.Dispatch.select(self.Dispatch.document)
            .where(self.Dispatch.dispatch_id == dispatch_id)
            .tuples()
            .first()
        )
        return row[0] if row is not None else None

    def hide(self, dispatch_ids: Iterable[str]) -> int:
        """Hide dispatches (Covalent's UI "delete"); how many were shown.

        Deletes no row, stored bytes or file, and a rescan keeps the flag.
        Listings must leave hidden records out unless asked for them (an
        ``include_hidden`` filter, like ``include_missing``); Covalent's UI
        reads the SQLite ``dispatches`` view, which already does.
        """
        D = self.Dispatch
        hidden = 0
        with self.database.atomic():
            for chunk in _chunks(sorted(set(dispatch_ids))):
                hidden += (
                    D.update(hidden=True)
                    .where(D.dispatch_id.in_(chunk) & (D.hidden == False))  # noqa: E712
                    .execute()
                )
        return hidden


@dataclass
class _Current:
    path: str
    mtime_ns: int
    missing: bool
    good: bool
    last_event: dt.datetime | None


def _newer_or_same(
    event: dt.datetime | None, mtime_ns: int, other_event: dt.datetime | None, other_mtime_ns: int
) -> bool:
    """Whether a copy is at least as recent as another.

    The times recorded inside the results decide first: a copy taken of a
    running dispatch stays behind the finished one even when copying gave it
    a newer mtime. Equal (or unknown) content times fall back to the mtime.
    """
    if event is not None and other_event is not None and event != other_event:
        return event > other_event
    return mtime_ns >= other_mtime_ns


def _upsert(
    model: type[pw.Model], row: dict[str, object], *, key: str, keep: set[str] | None = None
) -> None:
    """Insert ``row``, or update every column but ``keep`` (and the key)."""
    keep = (keep or set()) | {key}
    model.insert(row).on_conflict(
        conflict_target=[getattr(model, key)],
        preserve=[name for name in row if name not in keep],
    ).execute()


def _from_ns(mtime_ns: int | None) -> dt.datetime | None:
    if mtime_ns is None:
        return None
    return dt.datetime.fromtimestamp(mtime_ns / 1e9, dt.timezone.utc)


def _record(row: Dispatch) -> DispatchRecord:
    nodes = [
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
    return DispatchRecord(
        dispatch_id=row.dispatch_id,
        status=row.status,
        lattice_name=row.lattice_name,
        start_time=row.start_time,
        end_time=row.end_time,
        error=row.error,
        num_nodes=row.num_nodes,
        path=row.path,
        results_dir=row.results_dir,
        pickled_results_dir=row.pickled_results_dir,
        nodes=nodes,
        result=row.result,
        size=row.size,
        mtime_ns=row.mtime_ns,
        inode=row.inode,
        sha256=row.sha256,
        unreadable=row.unreadable,
        missing=bool(row.missing),
        source=row.source,
        root=row.root,
        first_seen=row.first_seen,
        updated_at=row.updated_at,
        last_event=row.last_event,
        sort_time=row.sort_time,
        hidden=bool(row.hidden),
    )


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
