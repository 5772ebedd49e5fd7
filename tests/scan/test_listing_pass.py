"""The listing pass's three threads and its batches: every folder listed
whatever its result_info.yaml holds, across chunks, batches and statements,
exactly as listed one small piece at a time."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.scan import listing
from dispatch_indexer.store import provisional

from ..realdata import ARITH, ELSEWHERE, FAILED, INNER

pytestmark = pytest.mark.engines

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


def _listed(index: DispatchIndex) -> dict[str, tuple[object, ...]]:
    return {
        r.dispatch_id: (r.path, r.results_dir, r.status, r.start_time, r.end_time, r.sort_time)
        for r in index.list(include_missing=True)
    }


def test_a_folder_whose_result_info_is_missing_or_odd_is_still_listed(
    index: DispatchIndex, corpus: Path
) -> None:
    root = corpus / "results"
    (root / ARITH / "result_info.yaml").unlink()
    (root / FAILED / "result_info.yaml").write_bytes(b"\x00\xff{[:\n")
    (root / INNER / "result_info.yaml").unlink()
    os.mkfifo(root / INNER / "result_info.yaml")
    index.add_dirs([root])
    listed = listing.list_root(index._store, index.config, str(root), frozenset())
    on_disk = {p.name for p in root.iterdir() if (p / "result.pkl").exists()}
    assert listed.count == len(on_disk)
    records = {r.dispatch_id: r for r in index.list(include_missing=True)}
    assert set(records) == on_disk
    for dispatch_id in (ARITH, FAILED, INNER):
        record = records[dispatch_id]
        assert record.source == "listing"
        assert record.status is None and record.start_time is None
        # Without a start time, it sorts by when its result.pkl was written.
        mtime = (root / dispatch_id / "result.pkl").stat().st_mtime
        assert abs(record.sort_time.timestamp() - mtime) < 1e-3
    assert index.counts().get("UNKNOWN") == 3
    summary = index.scan()
    assert summary.new == len(on_disk)
    assert records[ARITH].dispatch_id in _listed(index)


def test_small_chunks_and_batches_list_what_the_defaults_do(
    index: DispatchIndex, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Folders in several parents and depths, so that chunks and batches end
    # everywhere: between parents, inside one, and at the very end.
    root = corpus / "results"
    nested = root / "nested" / "deeper"
    nested.mkdir(parents=True)
    for i in range(5):
        shutil.copytree(root / ARITH, nested / f"copy-{i}")
    shutil.copytree(corpus / "results-alt" / "nested" / "deeper" / ELSEWHERE, nested / ELSEWHERE)
    index.add_dirs([root])
    listed = listing.list_root(index._store, index.config, str(root), frozenset())
    expected = _listed(index)
    assert listed.count == len(expected) > 10
    counts = index.counts()
    store = index._store
    variants = [(1, 1), (3, 2), (7, 5)]
    for batch, per_statement in variants:
        monkeypatch.setattr(listing, "BATCH", batch)
        monkeypatch.setattr(
            store.scope.statement(provisional.build_listing), "rows_per_statement", per_statement
        )
        assert store.drop_listed(list(expected)) == len(expected)
        assert index.counts() == {}
        again = listing.list_root(store, index.config, str(root), frozenset())
        assert again.count == listed.count
        assert _listed(index) == expected
        assert index.counts() == counts


def test_a_batch_over_several_statements_writes_only_the_new_rows(
    index: DispatchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = index._store
    monkeypatch.setattr(store.scope.statement(provisional.build_listing), "rows_per_statement", 7)
    shared: dict[str, object] = {
        "root": "/r", "source": provisional.SOURCE, "first_seen": NOW, "updated_at": NOW,
    }  # fmt: skip

    def rows(ids: range, status: str) -> list[tuple[object, ...]]:
        return [
            (f"d{i}", f"/r/d{i}", "/r", 1, 2, 3, status, None, None, NOW) for i in ids
        ]  # fmt: skip

    assert store.list_new(store.listing_batch(rows(range(0, 30, 2), "FAILED"), shared)) == 15
    # A dispatch with a record keeps it: only the 15 odd ones are new.
    assert store.list_new(store.listing_batch(rows(range(30), "COMPLETED"), shared)) == 15
    statuses = {r.dispatch_id: r.status for r in index.list(include_missing=True)}
    assert statuses == {f"d{i}": "FAILED" if i % 2 == 0 else "COMPLETED" for i in range(30)}
    assert index.counts() == {"FAILED": 15, "COMPLETED": 15}
