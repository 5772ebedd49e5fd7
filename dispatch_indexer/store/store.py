"""Reads and writes of the index tables; rows go in and records come out.

The rules that keep the index right live here:

- a dispatch found in several folders shows the most recently written copy;
- a read that failed never overwrites data from an earlier good read;
- a folder that vanished is forgotten, and its dispatch falls back to another
  copy or, with none left, is marked missing (the record and bytes are kept);
- each host (machine) owns the roots and locations it found: it reads,
  updates and forgets only those, and takes a record from another host only
  by the rule above (see ``Store.host``);
- every write is an upsert that decides for itself, against the row as
  committed, whether it replaces what is shown, so that several writers at
  once (daemons of several hosts on one PostgreSQL server) give the result
  one writer would (see ``Store.apply``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import peewee as pw

from ..config import default_host
from ..read.reader import ReadOutcome
from ..records import FINAL_STATUSES, DispatchRecord, FileStat, NodeSummary
from ..text import storable
from . import counters
from . import engine as db_mod
from .models import REREAD_MTIME_NS, Dispatch, EncodedJSON, Tables
from .query import Cursor, ListQuery, Page
from .statements import Batch, Compiled, slots

# SQLite allows 999 (older builds) bound parameters per statement.
_IN_CHUNK = 500
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
# What a provisional record (listing.py) holds. Only it has this source; a
# literal in the SQL, so that SQLite can use the partial index on it.
_LISTING_COLUMNS = [
    "dispatch_id", "host", "path", "results_dir", "root", "size", "mtime_ns",
    "inode", "status", "start_time", "end_time", "sort_time", "source",
    "first_seen", "updated_at",
]  # fmt: skip
# The columns each read writes, in the order of the compiled statements.
_LOCATION_COLUMNS = [
    "host", "path", "dispatch_id", "root", "size", "mtime_ns", "inode",
    "last_event", "unreadable", "seen_at",
]  # fmt: skip
_DISPATCH_COLUMNS = [
    "dispatch_id", "host", "path", "results_dir", "root", "size", "mtime_ns",
    "inode", "unreadable", "missing", "source", "updated_at", "first_seen",
    *sorted(_DATA_COLUMNS),
]  # fmt: skip


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# A stored location's (path, size, mtime_ns, inode).
StoredStat = tuple[str, int, int, int]


@dataclass(frozen=True)
class KnownLocation:
    dispatch_id: str
    stat: FileStat


@dataclass
class ApplyResult:
    new: int = 0
    updated: int = 0
    unreadable: int = 0


@dataclass
class _Fallback:
    missing: int = 0
    deleted: int = 0
    reread: list[str] = dataclasses.field(default_factory=list)


def _chunks(items: list[str], size: int = _IN_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _flags_only(q: ListQuery) -> bool:
    """Whether ``q`` filters on nothing but the hidden and missing flags, which
    the count table is keyed by (a limit or a cursor changes no count). A
    filter added to ListQuery later is counted from the records until the
    table can answer it."""
    plain = ListQuery(
        include_missing=q.include_missing,
        include_hidden=q.include_hidden,
        limit=q.limit,
        cursor=q.cursor,
    )
    return q == plain


def _under_range(field: pw.Field, folder: str) -> pw.Expression:
    """``field`` is ``folder`` or inside it, as a range an index can serve:
    every path inside "/a/b" sorts between "/a/b/" and "/a/b0" ("0" follows "/")."""
    folder = folder.rstrip("/") or "/"
    if folder == "/":
        return field.startswith("/")
    return (field == folder) | ((field >= folder + "/") & (field < folder + "0"))


class Store:
    def __init__(self, database: pw.Database, tables: Tables, *, host: str | None = None) -> None:
        self.database = database
        self.Dispatch = tables.Dispatch
        self.Location = tables.Location
        self.ResultBlob = tables.ResultBlob
        self.Root = tables.Root
        self.DispatchCount = tables.DispatchCount
        # The machine this store writes for: the roots and locations it
        # registers, scans, marks missing and forgets are its own; a path is
        # only ever looked at on the disk of the host that found it.
        self.host = host or default_host()
        self._compiled: dict[str, Compiled] = {}

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
            .where((self.Location.host == self.host) & _under_range(self.Location.path, root))
            .tuples()
        )
        return {
            path: KnownLocation(dispatch_id, FileStat(size, mtime_ns, inode))
            for path, dispatch_id, size, mtime_ns, inode in query.iterator()
        }

    def stored_stats(self, folder: str, chunk: int = 20_000) -> Iterator[StoredStat]:
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
            rows = self._stat_chunk(folder, after, chunk)
            yield from rows
            if len(rows) < chunk:
                return
            after = rows[-1][0]

    def _stat_chunk(self, folder: str, after: str | None, chunk: int) -> list[StoredStat]:
        L = self.Location
        query = (
            L.select(L.path, L.size, L.mtime_ns, L.inode)
            .where((L.host == self.host) & _under_range(L.path, folder))
            .order_by(L.path)
            .limit(chunk)
        )
        if after is not None:
            query = query.where(L.path > after)
        sql, params = query.sql()
        # Plain rows as the driver makes them, skipping peewee's row building.
        return self.database.execute_sql(sql, params).fetchall()

    def close_thread_connection(self) -> None:
        """Close the calling thread's connection (peewee keeps one per
        thread): for a helper thread that is done with the store."""
        if not self.database.is_closed():
            self.database.close()

    # ---- writing --------------------------------------------------------

    def apply(self, outcomes: Iterable[ReadOutcome], now: dt.datetime | None = None) -> ApplyResult:
        """Write one batch of reads in one transaction.

        Correct with other writers at once (the daemons of several hosts on
        one PostgreSQL server): whether a read replaces the copy shown is
        decided inside its upsert, against the row as committed
        (``_supersedes``), never from an earlier SELECT that another writer
        could have made stale; the server locks the row for the upsert, so
        the stored bytes written next in the same transaction always go with
        the row that was written. Every writer takes its row locks in one
        order, its own locations by path and then dispatches by id, so
        writers queue rather than deadlock; a transaction that loses a
        deadlock anyway (with ``forget_locations`` of another host) is run
        again (``engine.retrying_transaction``). SQLite has one writer at a time and
        takes the very same path.
        """
        now = now or utcnow()
        outcomes = [o for o in outcomes if not o.transient]
        if not outcomes:
            return ApplyResult()
        # Copies of one dispatch keep their order: the sort is stable.
        outcomes.sort(key=lambda o: o.record.dispatch_id)
        return db_mod.retrying_transaction(self.database, lambda: self._apply(outcomes, now))

    def _apply(self, outcomes: list[ReadOutcome], now: dt.datetime) -> ApplyResult:
        result = ApplyResult()
        for record in sorted((o.record for o in outcomes), key=lambda r: r.path):
            self._put_location(record, now)
        known = self._existing(sorted({o.record.dispatch_id for o in outcomes}))
        for outcome in outcomes:
            record = outcome.record
            if record.dispatch_id != os.path.basename(record.path):
                self._drop_misnamed_listing(record.path)
            if not self._put_dispatch(outcome, now):
                continue  # the copy shown stays: it is further along
            if record.dispatch_id in known:
                result.updated += 1
            else:
                result.new += 1
                known.add(record.dispatch_id)
            if record.unreadable:
                result.unreadable += 1
        self.compact_counts()
        return result

    def _drop_misnamed_listing(self, path: str) -> None:
        """The folder was listed under its name (listing.py), but the pickle
        names another dispatch: the provisional record under the name goes."""
        D = self.Dispatch
        D.delete().where(
            (D.dispatch_id == storable(os.path.basename(path)))
            & (D.host == self.host)
            & (D.path == path)
            & _listing_only(D)
        ).execute()

    def _existing(self, ids: list[str]) -> set[str]:
        """Which of these dispatches have a record (for counting new ones)."""
        found: set[str] = set()
        for chunk in _chunks(ids):
            # A provisional record (listing.py) is not a record yet.
            query = self.Dispatch.select(self.Dispatch.dispatch_id).where(
                self.Dispatch.dispatch_id.in_(chunk) & ~_listing_only(self.Dispatch)
            )
            found.update(row[0] for row in query.tuples())
        return found

    def _supersedes(self) -> pw.Expression:
        """Whether the copy being written (``EXCLUDED``) is the one to show
        rather than the stored one (``dispatch``), in the upsert's WHERE:

        - it is a new read of the very folder shown (same host and path);
        - the copy shown is missing;
        - it is further along: later times recorded inside the result, or
          with equal (or unknown) times a newer file; an exact tie goes to
          the writer only on the host already shown, so two hosts holding
          identical copies never take a record from each other;
        - the folder shown is gone without a scan having said so yet (no
          location row: that host forgot it).
        """
        D, L, E = self.Dispatch, self.Location, pw.EXCLUDED
        same = (E.host == D.host) & (E.path == D.path)
        both_times = (
            E.last_event.is_null(False)
            & D.last_event.is_null(False)
            & (E.last_event != D.last_event)
        )
        new_mtime, old_mtime = pw.fn.COALESCE(E.mtime_ns, 0), pw.fn.COALESCE(D.mtime_ns, 0)
        newer = pw.Case(
            None,
            [(both_times, E.last_event > D.last_event)],
            (new_mtime > old_mtime) | ((new_mtime == old_mtime) & (E.host == D.host)),
        )
        shown_gone = ~pw.fn.EXISTS(
            L.select(pw.SQL("1")).where((L.host == D.host) & (L.path == D.path))
        )
        return same | (D.missing == True) | newer | shown_gone  # noqa: E712

    def _statement(self, name: str) -> Compiled:
        """The write statement ``name``, built on first use (``statements``)."""
        compiled = self._compiled.get(name)
        if compiled is None:
            model, query = getattr(self, f"_build_{name}")()
            compiled = self._compiled[name] = Compiled(self.database, model, query)
        return compiled

    def _build_location(self) -> tuple[type[pw.Model], pw.Query]:
        L = self.Location
        row = slots(_LOCATION_COLUMNS)
        keys = ("host", "path")
        query = L.insert(row).on_conflict(
            conflict_target=[getattr(L, k) for k in keys],
            preserve=[getattr(L, c) for c in _LOCATION_COLUMNS if c not in keys],
        )
        return L, query

    def _build_blob(self) -> tuple[type[pw.Model], pw.Query]:
        B = self.ResultBlob
        query = B.insert(slots(["dispatch_id", "data", "sha256"])).on_conflict(
            conflict_target=[B.dispatch_id], preserve=[B.data, B.sha256]
        )
        return B, query

    def _build_dispatch(self) -> tuple[type[pw.Model], pw.Query]:
        D, E = self.Dispatch, pw.EXCLUDED
        # A good read, or nothing good to keep: take the data. A failed read
        # of a dispatch read well before keeps its data and its place in the
        # listing. first_seen (and hidden) never change.
        take_data = E.unreadable.is_null() | D.read_at.is_null()
        update = {}
        for name in _DISPATCH_COLUMNS:
            if name in ("dispatch_id", "first_seen"):
                continue
            column, value = getattr(D, name), getattr(E, name)
            update[column] = (
                pw.Case(None, [(take_data, value)], column) if name in _DATA_COLUMNS else value
            )
        query = D.insert(slots(_DISPATCH_COLUMNS)).on_conflict(
            conflict_target=[D.dispatch_id], update=update, where=self._supersedes()
        )
        return D, query

    def _put_location(self, record: DispatchRecord, now: dt.datetime) -> None:
        row = {
            "host": self.host,
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
        self._statement("location").run(row)

    def _put_dispatch(self, outcome: ReadOutcome, now: dt.datetime) -> bool:
        """Upsert the record of one read, if it is the copy to show; whether
        it was written."""
        record = outcome.record
        mtime = _from_ns(record.mtime_ns) or now
        row = {
            "dispatch_id": record.dispatch_id,
            "host": self.host,
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
            # _DATA_COLUMNS:
            "status": record.status,
            "lattice_name": record.lattice_name,
            "start_time": record.start_time,
            "end_time": record.end_time,
            "error": record.error,
            "num_nodes": record.num_nodes,
            "pickled_results_dir": record.pickled_results_dir,
            "nodes": [n.to_json() for n in record.nodes],
            "result": record.result,
            "document": _encoded(outcome.document_json),
            "sha256": record.sha256,
            "last_event": record.last_event,
            "sort_time": record.start_time or mtime,
            "read_at": now if record.unreadable is None else None,
        }
        written = self._statement("dispatch").run(row)
        if written and record.unreadable is None and outcome.data is not None:
            blob = {
                "dispatch_id": record.dispatch_id,
                "data": outcome.data,
                "sha256": record.sha256 or "",
            }
            self._statement("blob").run(blob)
        return bool(written)

    # ---- provisional records (listing.py) -------------------------------

    def has_locations(self, folder: str) -> bool:
        """Whether any folder under ``folder`` is known on this host."""
        L = self.Location
        query = L.select(pw.SQL("1")).where((L.host == self.host) & _under_range(L.path, folder))
        return query.limit(1).tuples().first() is not None

    def listing_batch(self, rows: list[dict[str, object]], shared: dict[str, object]) -> Batch:
        """Provisional records bound for ``list_new`` (the Python half of
        writing them, for the thread that made them)."""
        return self._statement("listing").batch(rows, {**shared, "host": self.host})

    def list_new(self, batch: Batch) -> int:
        """Write provisional records for dispatches that have no record yet
        (a dispatch with one keeps it), in one transaction; how many."""
        statement = self._statement("listing")

        def write() -> int:
            written = statement.run_batch(batch)
            self.compact_counts()
            return written

        return db_mod.retrying_transaction(self.database, write)

    def _build_listing(self) -> tuple[type[pw.Model], pw.Query]:
        D = self.Dispatch
        query = D.insert(slots(_LISTING_COLUMNS)).on_conflict(
            conflict_target=[D.dispatch_id], action="NOTHING"
        )
        return D, query

    def listed_under(self, folder: str) -> list[tuple[str, str]]:
        """(id, folder) of this host's provisional records under ``folder``."""
        D = self.Dispatch
        query = D.select(D.dispatch_id, D.path).where(
            (D.host == self.host) & _listing_only(D) & _under_range(D.path, folder)
        )
        return list(query.tuples())

    def drop_listed(self, dispatch_ids: list[str]) -> int:
        """Delete these records if they are still provisional; how many."""
        D = self.Dispatch
        dropped = 0
        with self.database.atomic():
            for chunk in _chunks(dispatch_ids):
                dropped += (
                    D.delete()
                    .where(D.dispatch_id.in_(chunk) & (D.host == self.host) & _listing_only(D))
                    .execute()
                )
        return dropped

    def forget_locations(
        self, paths: list[str], now: dt.datetime | None = None
    ) -> tuple[int, list[str]]:
        """Forget folders of this host that are gone.

        Returns how many dispatches became missing, and the folders (on this
        host) of other copies that must be re-read because the copy shown was
        among those gone. When the best copy left is another host's, that host
        is asked to read it again (``reread_requests``) and the record shows
        missing until it has.
        """
        now = now or utcnow()

        def forget() -> tuple[int, list[str]]:
            L, D = self.Location, self.Dispatch
            mine = L.host == self.host
            affected: set[str] = set()
            for chunk in _chunks(paths):
                affected.update(
                    row[0]
                    for row in L.select(L.dispatch_id).where(mine & L.path.in_(chunk)).tuples()
                )
                L.delete().where(mine & L.path.in_(chunk)).execute()
            gone = set(paths)
            shown: dict[str, str] = {}
            for chunk in _chunks(sorted(affected)):
                query = D.select(D.dispatch_id, D.path).where(
                    D.dispatch_id.in_(chunk) & (D.host == self.host)
                )
                shown.update((i, p) for i, p in query.tuples() if p in gone)
            fallback = self._fall_back(shown, now, delete_orphans=False)
            self.compact_counts()
            return fallback.missing, fallback.reread

        return db_mod.retrying_transaction(self.database, forget)

    def _fall_back(
        self, shown: dict[str, str], now: dt.datetime, delete_orphans: bool
    ) -> _Fallback:
        """For dispatches whose shown copy (this host's folder, by id) is gone:
        re-read the best copy left on this host; failing that, ask the host
        of the best copy elsewhere to read it again and show the record as
        missing meanwhile; with no copy anywhere, mark it missing (or delete
        it, with ``delete_orphans``). Each change applies only if the record
        still shows that folder: another host may have just taken it."""
        D, L, B = self.Dispatch, self.Location, self.ResultBlob
        result = _Fallback()
        requests: set[tuple[str, str]] = set()
        lost: list[tuple[str, bool]] = []
        for dispatch_id in sorted(shown):
            best = self._best_location(dispatch_id)
            own = best if best is None or best[0] == self.host else None
            if best is not None and best[0] != self.host:
                requests.add(best)
                own = self._best_location(dispatch_id, host=self.host)
            if own is not None:
                result.reread.append(own[1])
            else:
                lost.append((dispatch_id, best is None))
        # Row locks in the writers' order (see apply): locations, then dispatches.
        for host, path in sorted(requests):
            L.update(mtime_ns=REREAD_MTIME_NS).where((L.host == host) & (L.path == path)).execute()
        deleted: list[str] = []
        for dispatch_id, orphan in lost:
            still_shown = (
                (D.dispatch_id == dispatch_id)
                & (D.host == self.host)
                & (D.path == shown[dispatch_id])
            )
            if delete_orphans and orphan:
                if D.delete().where(still_shown).execute():
                    deleted.append(dispatch_id)
            else:
                result.missing += (
                    D.update(missing=True, updated_at=now)
                    .where(still_shown & (D.missing == False))  # noqa: E712
                    .execute()
                )
        for chunk in _chunks(deleted):
            B.delete().where(B.dispatch_id.in_(chunk)).execute()
        result.deleted = len(deleted)
        return result

    def reread_requests(self) -> list[str]:
        """This host's folders it is asked to read again (``REREAD_MTIME_NS``)."""
        L = self.Location
        query = L.select(L.path).where((L.host == self.host) & (L.mtime_ns == REREAD_MTIME_NS))
        return [row[0] for row in query.tuples()]

    def sync_roots(self, roots: list[tuple[str, str]], now: dt.datetime | None = None) -> None:
        """Make this host's roots mirror its config: (path, watch) pairs."""
        now = now or utcnow()
        R = self.Root
        mine = R.host == self.host
        with self.database.atomic():
            wanted = {path for path, _ in roots}
            stale = (mine & R.path.not_in(wanted)) if wanted else mine
            R.delete().where(stale).execute()
            for path, watch in roots:
                R.insert(host=self.host, path=path, watch=watch, added_at=now).on_conflict(
                    conflict_target=[R.host, R.path], preserve=[R.watch]
                ).execute()

    def forget_root(self, root: str) -> tuple[int, list[str]]:
        """Drop what this host found under ``root``.

        Returns how many dispatches were deleted, and the folders of copies
        under this host's other roots to re-read for dispatches that were
        shown from here. A dispatch another host also holds is kept, missing
        until that host has read its copy again (see ``forget_locations``).
        """
        now = utcnow()

        def forget() -> tuple[int, list[str]]:
            L, D = self.Location, self.Dispatch
            paths = [
                row[0]
                for row in L.select(L.path).where((L.host == self.host) & (L.root == root)).tuples()
            ]
            shown = dict(
                D.select(D.dispatch_id, D.path)
                .where((D.host == self.host) & (D.root == root))
                .tuples()
            )
            for chunk in _chunks(paths):
                L.delete().where((L.host == self.host) & L.path.in_(chunk)).execute()
            fallback = self._fall_back(shown, now, delete_orphans=True)
            self.compact_counts()
            return fallback.deleted, fallback.reread

        return db_mod.retrying_transaction(self.database, forget)

    def _best_location(self, dispatch_id: str, host: str | None = None) -> tuple[str, str] | None:
        """(host, folder) of the most advanced remaining copy of a dispatch
        (on ``host``, if given)."""
        L = self.Location
        where = L.dispatch_id == dispatch_id
        if host is not None:
            where &= L.host == host
        return (
            L.select(L.host, L.path)
            .where(where)
            .order_by(L.last_event.desc(nulls="LAST"), L.mtime_ns.desc())
            .tuples()
            .first()
        )

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
        q = q if q is not None else ListQuery()
        if _flags_only(q):
            return self._counted_by_status(q)
        D = self.Dispatch
        query = D.select(D.status, pw.fn.COUNT(D.dispatch_id)).group_by(D.status)
        where = self._filters(q)
        if where:
            query = query.where(*where)
        return {status or "UNKNOWN": count for status, count in query.tuples()}

    def _counted_by_status(self, q: ListQuery) -> dict[str, int]:
        """``counts`` from the count table (``counters``): a few rows to
        sum however many records there are."""
        C = self.DispatchCount
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

    def compact_counts(self, threshold: int = counters.FOLD_AT) -> bool:
        """Fold the count table's log into one row per key, if it is longer
        than ``threshold`` rows; whether it was folded. Costs a read of at
        most ``threshold`` small rows when there is nothing to do. Meant for
        the end of a write transaction, which it joins (on SQLite, it takes
        the write lock only when there is something to fold)."""
        if not counters.due(self.database, threshold):
            return False
        with self.database.atomic():
            return counters.fold(self.database)

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
            self.compact_counts()
        return deleted

    def unsettled_paths(self, root: str) -> list[str]:
        """Folders of dispatches under ``root`` that can still change: not
        in a final status, or not readable yet.

        Found from this host's locations under ``root`` (a range of their
        primary key), each joined to its dispatch by id: the dispatch table
        has no index on its path, and the daemon asks this for every new
        folder, where a scan of 100,000 records cost more than a live save.
        """
        D, L = self.Dispatch, self.Location
        query = (
            L.select(L.path)
            .join(D, on=(D.dispatch_id == L.dispatch_id))
            .where(
                (L.host == self.host)
                & _under_range(L.path, root)
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

    def count_by_root(self) -> dict[str, int]:
        """This host's records by root (hidden and missing ones too), from
        the count table."""
        C = self.DispatchCount
        total = pw.fn.SUM(C.n)
        query = (
            C.select(C.root, total)
            .where(C.host == self.host)
            .group_by(C.root)
            .having(total != 0)
            .tuples()
        )
        return {root: int(count) for root, count in query if root is not None}

    def count_by_host(self) -> dict[str, int]:
        """Records by the host whose copy is shown (hidden and missing ones
        too), from the count table."""
        C = self.DispatchCount
        total = pw.fn.SUM(C.n)
        query = C.select(C.host, total).group_by(C.host).having(total != 0).tuples()
        return {host: int(count) for host, count in query}

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
            self.compact_counts()
        return hidden


def _listing_only(D: type[Dispatch]) -> pw.Expression:
    return D.source == pw.SQL("'listing'")


def _encoded(text: str | None) -> EncodedJSON | None:
    return EncodedJSON(text) if text is not None else None


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
        host=row.host,
    )


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
