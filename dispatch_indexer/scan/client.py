"""Bring the index up to date with a Covalent client's caches: a
"dispatch-cache" root (the manifest of each submission) or a
"client-results" root (what ``get_result`` downloaded), read by
``read.client``.

A cache holds one entry per dispatch at its top, so a sync lists that one
folder: an entry whose stat is the one stored is unchanged (Covalent writes
a manifest whole, and a download's result asset once), a new or changed one
is read, and one gone from the folder is forgotten (its dispatch falls back
to another copy, or shows missing). What a client's copy says is shown only
while no more authoritative copy of the dispatch is (``store.write``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..config import RootConfig
from ..read.client import (
    MAX_ENTRIES,
    is_dispatch_id,
    read_cached_dispatch,
    read_downloaded_result,
)
from ..read.reader import ReadOutcome, stat_of
from ..read.tobj import UnreadableAssetError, read_bounded
from ..records import FileStat, ScanSummary
from ..store.store import Store

log = logging.getLogger(__name__)

# The client's root kinds, the more authoritative first (``records.ORIGIN_RANKS``).
CLIENT_KINDS = ("client-results", "dispatch-cache")
# The result asset a client's download holds when its dispatch completed.
RESULT_ASSET = "results.tobj"


class ClientSyncInterrupted(Exception):
    """Asked to stop between batches; what was written is consistent."""


class _TooManyEntries(Exception):
    """A cache folder too large to list in one sync."""


def sync_client(
    store: Store,
    root: RootConfig,
    *,
    batch_size: int = 500,
    settle_seconds: float = 2.0,
    max_bytes: int = 1024 * 1024 * 1024,
    should_stop: Callable[[], bool] | None = None,
) -> ScanSummary:
    """Sync one client root; its summary. Raises ``ClientSyncInterrupted``
    if ``should_stop`` says so between batches."""
    started = time.monotonic()
    summary = ScanSummary()
    known = {path: k.stat for path, k in store.known_locations(root.path).items()}
    if not os.path.isdir(root.path):
        summary.errors.append(f"root is missing or not a folder: {root.path}")
        _forget(store, sorted(known), summary)
        summary.seconds = time.monotonic() - started
        return summary
    seen: set[str] = set()
    batch: list[ReadOutcome] = []
    try:
        for path, stat in _listing(root):
            seen.add(path)
            if known.get(path) == stat:
                summary.unchanged += 1
                continue
            outcome = read_entry(root, path, stat, settle_seconds, max_bytes)
            if outcome.transient:
                summary.unsettled += 1
                continue
            batch.append(outcome)
            if len(batch) >= batch_size:
                _apply(store, batch, summary)
                batch = []
                if should_stop is not None and should_stop():
                    raise ClientSyncInterrupted
    except (OSError, _TooManyEntries) as exc:
        # The folder could not be listed whole: what was not seen is
        # unknown, not gone, so nothing is forgotten this time.
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        summary.errors.append(f"cannot read folder: {root.path}: {why}")
        _apply(store, batch, summary)
        summary.seconds = time.monotonic() - started
        return summary
    _apply(store, batch, summary)
    _forget(store, sorted(set(known) - seen), summary)
    summary.seconds = time.monotonic() - started
    return summary


def refresh_client(
    store: Store,
    root: RootConfig,
    paths: Iterable[str],
    *,
    settle_seconds: float = 2.0,
    max_bytes: int = 1024 * 1024 * 1024,
) -> ScanSummary:
    """Read these entries of a client root again (another copy of their
    dispatch went: ``store.forget_locations`` asked for them)."""
    summary = ScanSummary()
    batch = []
    for path in paths:
        stat = _entry_stat(root, Path(path))
        if stat is not None:
            outcome = read_entry(root, path, stat, settle_seconds, max_bytes)
            if not outcome.transient:
                batch.append(outcome)
    _apply(store, batch, summary)
    return summary


def read_entry(
    root: RootConfig, path: str, stat: FileStat, settle_seconds: float, max_bytes: int
) -> ReadOutcome:
    """One cache entry as a read to write: the record (and, for a
    completed download, the result asset's bytes)."""
    data: bytes | None = None
    if root.kind == "dispatch-cache":
        record = read_cached_dispatch(path)
    else:
        record = read_downloaded_result(path)
        if record.status == "COMPLETED":
            data = _result_bytes(Path(path) / RESULT_ASSET, max_bytes)
    record.root = root.path
    record.size, record.mtime_ns, record.inode = stat
    if data is not None:
        record.sha256 = hashlib.sha256(data).hexdigest()
    # A manifest or a download caught half-written is read again at the
    # next sync rather than recorded as unreadable.
    fresh = time.time() - stat.mtime_ns / 1e9 < settle_seconds
    return ReadOutcome(record=record, data=data, transient=bool(record.unreadable) and fresh)


def _listing(root: RootConfig) -> Iterator[tuple[str, FileStat]]:
    """(path, stat) of every dispatch entry at the top of ``root``."""
    with os.scandir(root.path) as entries:
        for count, entry in enumerate(entries):
            if count >= MAX_ENTRIES:
                raise _TooManyEntries(f"more than {MAX_ENTRIES:,} entries; the first ones read")
            if not is_dispatch_id(entry.name):
                continue
            stat = _entry_stat(root, Path(entry.path))
            if stat is not None:
                yield entry.path, stat


def _entry_stat(root: RootConfig, path: Path) -> FileStat | None:
    """What a later sync compares to know an entry unchanged: a manifest's
    own stat; for a download, its result asset's (written when the dispatch
    completed) else its folder's (which moves as its files come in). None
    for an entry that is not of the root's kind, or is gone."""
    try:
        if root.kind == "dispatch-cache":
            st = path.stat()
            return stat_of(st) if path.is_file() and not path.is_symlink() else None
        if path.is_symlink() or not path.is_dir():
            return None
        try:
            return stat_of((path / RESULT_ASSET).stat())
        except OSError:
            return stat_of(path.stat())
    except OSError:
        return None


def _result_bytes(path: Path, max_bytes: int) -> bytes | None:
    try:
        return read_bounded(path, max_bytes)
    except UnreadableAssetError as exc:
        # The record stays good; only its bytes are not kept.
        log.warning("%s: result asset not stored: %s", path, exc)
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
    # The best copy left of a dispatch whose shown copy went is in another
    # root (a cache holds one entry per dispatch): the store marks it for
    # that root's own sync to read.
    missing, _reread = store.forget_locations(paths)
    summary.missing += missing
