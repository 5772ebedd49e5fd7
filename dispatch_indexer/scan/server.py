"""Bring the index up to date with a Covalent server (0.136 on): its
dispatcher database and its data dir, one "covalent-data" root.

A sync runs in two passes. The cheap one (``read.modern.read_marks``) reads
one row per dispatch and gives its mark: the result asset's stat and the
database's last event for it, which the store keeps for each location. Only
the dispatches whose mark moved get the full read (tasks, assets, logs, the
result's preview and bytes), a few thousand at a time, so memory stays flat
at any size.

A sync is full (every dispatch's mark compared: the reconciliation) or
incremental: only the rows written since the caller's high water
(``ServerCursor``, kept by the daemon per root). An incremental sync turns
itself into a full one whenever the database is not the one it followed:
the file replaced (another inode) or shrunk, another schema or Alembic
revision, or a high water that went backwards (an older copy put back).

History is kept: a dispatch gone from the database (``covalent purge``, a
reset) keeps its record as it was; only its folder removed from the data
dir marks it missing, as a vanished results folder does. A database that
is busy (Covalent writing it) is read at the next sync; one that is missing
or damaged is reported, and nothing indexed is touched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, RootConfig
from ..read.covalent_db import BUSY_WAIT, CovalentDbBusyError, CovalentDbError, Schema
from ..read.detect import find_database
from ..read.disksize import folder_size
from ..read.modern import ServerDispatch, ServerMark, read_dispatches, read_marks, read_result_bytes
from ..read.moderndoc import document_json
from ..read.reader import ReadOutcome, stat_of
from ..read.tobj import UnreadableAssetError
from ..records import DispatchRecord, FileStat, ScanSummary
from ..store.store import Store
from .covalent_pg import is_database_url, open_covalent_db

log = logging.getLogger(__name__)

# Rows are re-read from this long before the high water: Covalent's
# timestamps are its clock's at the write, not at the commit, so a
# transaction committed late can carry a slightly older updated_at.
SLACK = dt.timedelta(seconds=5)

Mark = tuple[FileStat, dt.datetime | None]


class SyncInterrupted(Exception):
    """Asked to stop between batches; what was written is consistent."""


@dataclass
class ServerCursor:
    """What the last sync of one root saw of its database; kept by the
    caller between syncs. A fresh one asks for a full sync."""

    high_water: dt.datetime | None = None
    # The database file's (device, inode) and size at the last sync.
    file: tuple[int, int] | None = None
    size: int = 0
    # The schema's revision and columns at the last sync.
    schema: tuple[object, ...] | None = None
    # The marks of the dispatches written at or after the high water less
    # the slack, by folder: what the next incremental sync reads again. A
    # dispatch it reads that is not here is new in the window, so changed;
    # the store is not asked (a query per dispatch cost more than the rest).
    recent: dict[str, Mark] = field(default_factory=dict)
    full_syncs: int = 0
    incremental_syncs: int = 0

    def reset(self) -> None:
        """Forget the database: the next sync is full."""
        self.high_water = None
        self.recent = {}


def sync_server(
    store: Store,
    root: RootConfig,
    *,
    batch_size: int = 500,
    should_stop: Callable[[], bool] | None = None,
    cursor: ServerCursor | None = None,
    full: bool = False,
    dispatch_ids: list[str] | None = None,
    busy_wait: float = BUSY_WAIT,
    on_written: Callable[[DispatchRecord], None] | None = None,
) -> ScanSummary:
    """Sync one covalent-data root; its summary (problems in ``errors``, a
    busy database counted in ``busy``).

    Full unless a ``cursor`` that followed this database says where the
    last sync stopped (and ``full`` is not asked); ``dispatch_ids`` syncs
    only those, each read whole even if its mark did not move (a file in
    its folder changed). Raises ``SyncInterrupted`` if ``should_stop`` says
    so between batches. ``busy_wait``: how long a busy database is waited
    for; ``on_written`` hears each record written."""
    started = time.monotonic()
    summary = ScanSummary()
    data_dir = root.path
    if not os.path.isdir(data_dir):
        summary.errors.append(f"root is missing or not a folder: {data_dir}")
        _forget(store, sorted(store.known_locations(data_dir)), summary)
    else:
        sync = _Sync(store, root, summary, batch_size, should_stop)
        sync.busy_wait, sync.on_written = busy_wait, on_written
        sync.run(cursor, full, dispatch_ids)
    summary.seconds = time.monotonic() - started
    return summary


class _Sync:
    """One sync of one root (a class only to share its arguments)."""

    def __init__(
        self,
        store: Store,
        root: RootConfig,
        summary: ScanSummary,
        batch_size: int,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.store = store
        self.data_dir = root.path
        self.root = root
        self.summary = summary
        self.batch_size = batch_size
        self.should_stop = should_stop
        self.busy_wait = BUSY_WAIT
        # Every mark this sync computed, by folder.
        self.seen: dict[str, Mark] = {}
        self.on_written: Callable[[DispatchRecord], None] | None = None

    def run(self, cursor: ServerCursor | None, full: bool, dispatch_ids: list[str] | None) -> None:
        if dispatch_ids is not None:
            # A folder removed from the data dir is missing, whatever the
            # database (gone too, say) says.
            gone = [os.path.join(self.data_dir, i) for i in dispatch_ids]
            gone = [p for p in gone if not os.path.isdir(p)]
            _forget(self.store, [p for p in gone if self.store.known_locations(p)], self.summary)
        database = database_of(self.root)
        if database is None:
            self.summary.errors.append(
                f"{self.data_dir}: no Covalent database found beside it; "
                "register it again with add-dir --covalent-db PATH"
            )
            return
        self.database = database
        # A server on PostgreSQL has no file whose replacement says "reconcile".
        self.on_file = not is_database_url(self.database)
        self.db = open_covalent_db(self.database, busy_wait=self.busy_wait)
        try:
            if dispatch_ids is not None:
                self._named(dispatch_ids)
            else:
                self._changed(cursor, full)
        except CovalentDbBusyError as exc:
            # Covalent is writing: not a fault, the next sync reads it.
            log.debug("%s: %s; read at the next sync", self.data_dir, exc)
            self.summary.busy += 1
        except CovalentDbError as exc:
            if cursor is not None:
                cursor.reset()
            self.summary.errors.append(
                f"{self.data_dir}: Covalent database not read, records kept as they were: {exc}"
            )

    def _named(self, dispatch_ids: list[str]) -> None:
        """These dispatches, read whole: a file of theirs changed."""
        marks = read_marks(self.db, self.data_dir, dispatch_ids=dispatch_ids).marks
        self._build(marks, {}, force=True)

    def _changed(self, cursor: ServerCursor | None, full: bool) -> None:
        file = _file_of(self.database) if self.on_file else None
        since = None
        if cursor is not None and not full and cursor.high_water is not None:
            replaced = self.on_file and (
                file is None or file[:2] != cursor.file or file[2] < cursor.size
            )
            since = None if replaced else cursor.high_water - SLACK
        read = read_marks(self.db, self.data_dir, since=since)
        if since is not None and cursor is not None:
            assert cursor.high_water is not None
            # The rows read include the one that set the high water (read
            # from before it): older now, or gone, the file is another.
            went_back = read.high_water is None or read.high_water < cursor.high_water
            if went_back or _schema_key(read.schema) != cursor.schema:
                log.info("%s: its database was replaced; reconciling", self.data_dir)
                since = None
                read = read_marks(self.db, self.data_dir)
        if since is None:
            known = {
                p: (k.stat, k.last_event)
                for p, k in self.store.known_locations(self.data_dir).items()
            }
        else:
            assert cursor is not None
            known = cursor.recent
        present = self._build(read.marks, known, force=False)
        if since is None:
            # Only a dispatch folder removed from the data dir is gone; one
            # merely absent from the database is history, kept as it was.
            gone = [p for p in known if p not in present and not os.path.isdir(p)]
            _forget(self.store, sorted(gone), self.summary)
        if cursor is not None:
            window = read.high_water - SLACK if read.high_water is not None else None
            cursor.recent = {
                folder: mark
                for folder, mark in self.seen.items()
                if window is not None and mark[1] is not None and mark[1] >= window
            }
            cursor.high_water = read.high_water
            cursor.file, cursor.size = (file[:2], file[2]) if file is not None else (None, 0)
            cursor.schema = _schema_key(read.schema)
            if since is None:
                cursor.full_syncs += 1
            else:
                cursor.incremental_syncs += 1

    def _build(self, marks: list[ServerMark], known: dict[str, Mark], force: bool) -> set[str]:
        """Read whole, and write, the dispatches whose mark moved; the
        folders found on disk."""
        changed: dict[str, tuple[ServerMark, FileStat]] = {}
        present: set[str] = set()
        for mark in marks:
            stat = _stat(mark)
            if stat is None:
                continue  # its folder left the data dir: forgotten, not revived
            present.add(mark.folder)
            self.seen[mark.folder] = (stat, mark.last_event)
            if not force and known.get(mark.folder) == (stat, mark.last_event):
                self.summary.unchanged += 1
                continue
            changed[mark.dispatch_id] = (mark, stat)
        ids = list(changed)
        batch: list[ReadOutcome] = []
        # Read in chunks of a batch: each written before the next is read,
        # so the first changes show while the rest are read.
        step = max(self.batch_size, 1)
        for start in range(0, len(ids), step):
            chunk = ids[start : start + step]
            for dispatch in read_dispatches(self.db, self.data_dir, chunk):
                mark, stat = changed[dispatch.record.dispatch_id]
                batch.append(_outcome(dispatch, mark, stat, self.data_dir))
                if len(batch) >= self.batch_size:
                    self._apply(batch)
                    batch = []
        self._apply(batch)
        return present

    def _apply(self, batch: list[ReadOutcome]) -> None:
        if not batch:
            return
        result = self.store.apply(batch)
        if self.on_written is not None:
            for outcome in batch:
                self.on_written(outcome.record)
        self.summary.new += result.new
        self.summary.updated += result.updated
        self.summary.unreadable += result.unreadable
        if self.should_stop is not None and self.should_stop():
            raise SyncInterrupted


def database_of(root: RootConfig) -> str | None:
    """The database of a server's root: the one it was registered with (a
    file or a PostgreSQL URL), else the one Covalent keeps beside its data dir."""
    found = root.covalent_db or find_database(root.path)
    return None if found is None else str(found)


def server_document(config: Config, record: DispatchRecord) -> str | None:
    """Covalent's UI document of a dispatch read from a server, built when
    asked for from the server as it is now (every asset of one dispatch:
    too much to read for each of 100,000 in a sync); None when its server
    is not registered or cannot be read."""
    root = config.synced_root(record.path)
    database = database_of(root) if root is not None and root.kind == "covalent-data" else None
    if root is None or database is None:
        return None
    try:
        db = open_covalent_db(database)
        found = read_dispatches(db, root.path, [record.dispatch_id], every_asset=True)
    except CovalentDbError as exc:
        log.info("%s: no document from its server: %s", record.dispatch_id, exc)
        return None
    return document_json(found[0]) if found else None


def _outcome(
    dispatch: ServerDispatch, mark: ServerMark, stat: FileStat, data_dir: str
) -> ReadOutcome:
    """The read to write: the record, with the mark the next sync compares
    (the database's own last write moves it even when no file in the data
    dir changed: RUNNING, then COMPLETED; or an older copy put back), and
    the result asset's bytes."""
    record = dispatch.record
    record.root = data_dir
    record.size, record.mtime_ns, record.inode = stat
    record.last_event = mark.last_event
    # A modern server keeps a dispatch's files in its data dir's folder.
    if mark.folder is not None:
        record.folder_size = folder_size(mark.folder)
    data: bytes | None = None
    try:
        data = read_result_bytes(dispatch)
    except (UnreadableAssetError, OSError) as exc:
        # The record stays good; only its bytes are not kept.
        log.warning("%s: result asset not stored: %s", record.dispatch_id, exc)
    if data is not None:
        record.sha256 = hashlib.sha256(data).hexdigest()
    return ReadOutcome(record=record, data=data)


def _stat(mark: ServerMark) -> FileStat | None:
    """The result asset's stat, else the dispatch folder's: what a sync
    compares (with the last event) to know a dispatch unchanged. None when
    the folder is not in the data dir."""
    for path in (mark.result_path, mark.folder):
        if path is None:
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        # An asset inside the folder vouches for it: one stat, not two.
        if path == mark.folder or path.startswith(mark.folder + os.sep):
            return stat_of(st)
        if os.path.isdir(mark.folder):
            return stat_of(st)
    return None


def _file_of(database: str | Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(database)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size


def _schema_key(schema: Schema) -> tuple[object, ...]:
    return (
        schema.revision,
        tuple(sorted((t, tuple(sorted(c))) for t, c in schema.columns.items())),
    )


def _forget(store: Store, paths: list[str], summary: ScanSummary) -> None:
    if not paths:
        return
    missing, _reread = store.forget_locations(paths)
    # Another copy of the same dispatch (elsewhere) is not looked for here:
    # one dispatch from several sources is a later step.
    summary.missing += missing
