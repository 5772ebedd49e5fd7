"""Copies of one dispatch from sources of different authority: the store
shows the most authoritative, whatever the times of the others, and fills
in what it lacks from a lesser copy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.read.client import read_cached_dispatch, read_downloaded_result
from dispatch_indexer.read.reader import ReadOutcome

from ..realdata import ARITH_240, CLIENT_DISPATCHES_240, CLIENT_RESULTS_240, FAILED_240

# Run on both engines (see conftest).
pytestmark = pytest.mark.engines

LATER = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def _far_ahead(outcome: ReadOutcome, root: Path) -> ReadOutcome:
    """A copy written long after any other: newer file, later events."""
    record = outcome.record
    record.root = str(root)
    record.size, record.mtime_ns, record.inode = 1, int(LATER.timestamp() * 1e9), 1
    record.last_event = LATER
    return outcome


def _cached(dispatch_id: str) -> ReadOutcome:
    record = read_cached_dispatch(CLIENT_DISPATCHES_240 / dispatch_id)
    return _far_ahead(ReadOutcome(record, None), CLIENT_DISPATCHES_240)


def _downloaded(dispatch_id: str) -> ReadOutcome:
    record = read_downloaded_result(CLIENT_RESULTS_240 / dispatch_id)
    return _far_ahead(ReadOutcome(record, None), CLIENT_RESULTS_240)


def test_a_lesser_copy_never_replaces_a_better_one(
    index: DispatchIndex, covalent_server: Path
) -> None:
    index.add_dirs([covalent_server / "data"])
    index.scan()
    store = index._store
    assert store.apply([_downloaded(FAILED_240), _cached(FAILED_240)]).updated == 0
    record = index.get(FAILED_240)
    assert (record.status, record.origin) == ("FAILED", "covalent-db")


def test_a_better_copy_always_replaces_a_lesser_one(index: DispatchIndex) -> None:
    store = index._store
    store.apply([_cached(ARITH_240)])
    assert index.get(ARITH_240).origin == "dispatch-cache"
    downloaded = _downloaded(ARITH_240)
    downloaded.record.mtime_ns, downloaded.record.last_event = 1, None  # older in every way
    assert store.apply([downloaded]).updated == 1
    record = index.get(ARITH_240)
    assert (record.status, record.origin) == ("COMPLETED", "client-results")
    # The lesser copy, written again, changes nothing.
    assert store.apply([_cached(ARITH_240)]).updated == 0
    assert index.get(ARITH_240).origin == "client-results"


def test_what_the_shown_copy_lacks_comes_from_a_lesser_one(index: DispatchIndex) -> None:
    store = index._store
    downloaded = _downloaded(ARITH_240)
    downloaded.record.lattice_name = downloaded.record.num_nodes = None
    store.apply([downloaded])
    assert index.get(ARITH_240).lattice_name is None
    store.apply([_cached(ARITH_240)])
    record = index.get(ARITH_240)
    assert (record.origin, record.lattice_name, record.num_nodes) == ("client-results", "arith", 6)
    # And a better copy that does not know them keeps what was known.
    downloaded.record.lattice_name = None
    downloaded.record.mtime_ns += 1
    store.apply([downloaded])
    assert index.get(ARITH_240).lattice_name == "arith"
