"""Bring the index up to date with a Covalent server (0.136 on): its
dispatcher database and its data dir, one "covalent-data" root.

The database says what each dispatch is (``read.modern``); the data dir
holds its assets. Every sync reads the database whole (it is small next to
the data dir, and a full read is the reconciliation) and writes only the
dispatches whose result asset (or folder) or last recorded event changed.

History is kept: a dispatch gone from the database (``covalent purge``, a
reset) keeps its record as it was; only its folder removed from the data
dir marks it missing, as a vanished results folder does. A database that
is busy (Covalent writing it) is read at the next sync; one that is missing
or damaged is reported, and nothing indexed is touched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..config import RootConfig
from ..read.covalent_db import CovalentDbBusyError, CovalentDbError
from ..read.detect import find_database
from ..read.modern import ServerDispatch, read_result_bytes, read_server
from ..read.reader import ReadOutcome, stat_of
from ..read.tobj import UnreadableAssetError
from ..records import FileStat, ScanSummary, latest
from ..store.store import Store

log = logging.getLogger(__name__)


class SyncInterrupted(Exception):
    """Asked to stop between batches; what was written is consistent."""


def sync_server(
    store: Store,
    root: RootConfig,
    *,
    batch_size: int = 500,
    should_stop: Callable[[], bool] | None = None,
) -> ScanSummary:
    """Sync one covalent-data root; its summary (problems in ``errors``, a
    busy database counted in ``busy``). Raises ``SyncInterrupted`` if
    ``should_stop`` says so between batches."""
    started = time.monotonic()
    summary = ScanSummary()
    data_dir = root.path
    known = {path: (k.stat, k.last_event) for path, k in store.known_locations(data_dir).items()}
    if not os.path.isdir(data_dir):
        summary.errors.append(f"root is missing or not a folder: {data_dir}")
        _forget(store, sorted(known), summary)
    else:
        _sync_rows(store, root, known, summary, batch_size, should_stop)
        # Only a dispatch folder removed from the data dir is gone; one
        # merely absent from the database is history, kept as it was.
        _forget(store, sorted(p for p in known if not os.path.isdir(p)), summary)
    summary.seconds = time.monotonic() - started
    return summary


def _sync_rows(
    store: Store,
    root: RootConfig,
    known: dict[str, tuple[FileStat, datetime | None]],
    summary: ScanSummary,
    batch_size: int,
    should_stop: Callable[[], bool] | None,
) -> None:
    database = root.covalent_db or find_database(root.path)
    if database is None:
        summary.errors.append(
            f"{root.path}: no Covalent database found beside it; "
            "register it again with add-dir --covalent-db PATH"
        )
        return
    try:
        read = read_server(database, root.path)
    except CovalentDbBusyError as exc:
        # Covalent is writing: not a fault, the next scan or poll reads it.
        log.info("%s: %s; read at the next scan", root.path, exc)
        summary.busy += 1
        return
    except CovalentDbError as exc:
        summary.errors.append(
            f"{root.path}: Covalent database not read, records kept as they were: {exc}"
        )
        return
    batch: list[ReadOutcome] = []
    for dispatch in read.dispatches:
        mark = _mark(dispatch, root.path)
        if mark is None:
            continue  # its folder left the data dir: forgotten, not revived
        if known.get(dispatch.record.path) == mark:
            summary.unchanged += 1
            continue
        batch.append(_outcome(dispatch))
        if len(batch) >= batch_size:
            _apply(store, batch, summary)
            batch = []
            if should_stop is not None and should_stop():
                raise SyncInterrupted
    _apply(store, batch, summary)


def _mark(dispatch: ServerDispatch, data_dir: str) -> tuple[FileStat, datetime | None] | None:
    """Fill in the record's root, stat and last event; those two, as a
    rescan compares them with the stored ones (None when the dispatch's
    folder is not in the data dir)."""
    record = dispatch.record
    stat = _stat(dispatch)
    if stat is None:
        return None
    record.root = data_dir
    record.size, record.mtime_ns, record.inode = stat
    # The database's own last write: a status changed there (RUNNING, then
    # COMPLETED; or a copy of an older database put back) moves it even
    # when no file in the data dir changed, and the store takes a new read
    # of the same path whatever its times (``store.write._supersedes``).
    lattice = dispatch.lattice
    record.last_event = latest([record.last_event, lattice.updated_at, lattice.completed_at])
    return stat, record.last_event


def _outcome(dispatch: ServerDispatch) -> ReadOutcome:
    """The read to write: the record and the result asset's bytes."""
    record = dispatch.record
    data: bytes | None = None
    try:
        data = read_result_bytes(dispatch)
    except (UnreadableAssetError, OSError) as exc:
        # The record stays good; only its bytes are not kept.
        log.warning("%s: result asset not stored: %s", record.dispatch_id, exc)
    if data is not None:
        record.sha256 = hashlib.sha256(data).hexdigest()
    return ReadOutcome(record=record, data=data)


def _stat(dispatch: ServerDispatch) -> FileStat | None:
    """The result asset's stat, else the dispatch folder's: what a rescan
    compares (with the last event) to know a dispatch unchanged."""
    folder = Path(dispatch.record.path)
    for path in (dispatch.result_path, folder):
        if path is None:
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        if path == folder or folder.is_dir():
            return stat_of(st)
    return None


def _apply(store: Store, batch: list[ReadOutcome], summary: ScanSummary) -> None:
    if not batch:
        return
    result = store.apply(batch)
    summary.new += result.new
    summary.updated += result.updated
    summary.unreadable += result.unreadable


def _forget(store: Store, paths: list[str], summary: ScanSummary) -> None:
    if not paths:
        return
    missing, _reread = store.forget_locations(paths)
    # Another copy of the same dispatch (elsewhere) is not looked for here:
    # one dispatch from several sources is a later step.
    summary.missing += missing
