"""A cold build as a bulk build (issue 16): the text and sort indexes left
to its end, what the reader processes hand back in a compact form, and the
stored bytes held compressed; every figure the same as row by row."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.read.compressed import ZSTD
from dispatch_indexer.read.pool import ReadPool, ReadTask
from dispatch_indexer.read.reader import compact, expand, read_dispatch
from dispatch_indexer.store import bulk
from dispatch_indexer.store.sorting import SORTS

from ..realdata import FAILED, ROOT_NAMES

pytestmark = pytest.mark.engines


def _sort_indexes(index: DispatchIndex) -> set[str]:
    rows = index._store.database.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'dispatch_by_%'"
    ).fetchall()
    return {row[0] for row in rows}


def _rows(index: DispatchIndex) -> dict[str, tuple]:
    D = index._tables.Dispatch
    columns = (D.dispatch_id, D.status, D.nodes, D.result, D.document, D.sha256, D.folder_size)
    return {row[0]: row[1:] for row in D.select(*columns).tuples()}


def test_a_first_scan_is_a_bulk_build_that_ends_searchable(
    indexed: DispatchIndex, db_engine: str
) -> None:
    # Every dispatch found by its words, every sort index back.
    assert [r.dispatch_id for r in indexed.list(text="broken")] == [FAILED]
    assert not bulk.active(indexed._store.scope)
    if db_engine == "sqlite":
        assert _sort_indexes(indexed) == {f"dispatch_by_{s}" for s in SORTS if s != "start_time"}
    for sort in SORTS:
        assert indexed.list(sort=sort, limit=3)


def test_a_bulk_build_cut_short_is_finished_by_the_next_scan(
    index: DispatchIndex, corpus: Path, db_engine: str, cli
) -> None:
    store = index._store
    if not store.begin_bulk():
        assert db_engine == "postgresql"  # row by row there
        return
    root = corpus / ROOT_NAMES[0]
    folders = [p.parent for p in sorted(root.glob("*/result.pkl"))]
    store.apply([read_dispatch(f, root=str(root)) for f in folders])
    # Written in a bulk build that never ended (a crash): not searchable yet.
    assert bulk.active(store.scope)
    assert index.list(text="results") == []
    assert _sort_indexes(index) == set()
    # ... and a search says so: in the Python API, the CLI and the HTTP API's page.
    assert index.list(text="results").search_incomplete
    assert not index.list().search_incomplete  # no search, nothing missed
    assert "first scan is still being written" in cli("list", "--text", "results").stderr
    index.add_dirs([root])
    index.scan()
    assert not bulk.active(store.scope)
    assert len(index.list(text="results", limit=None)) >= len(folders) - 1
    assert not index.list(text="results").search_incomplete
    assert len(_sort_indexes(index)) == len(SORTS) - 1


def test_row_by_row_writes_after_a_bulk_build_keep_search_right(
    indexed: DispatchIndex,
) -> None:
    indexed.tag(FAILED, ["zebra"])
    assert [r.dispatch_id for r in indexed.list(text="zebra")] == [FAILED]


def test_compact_outcomes_write_what_whole_ones_do(
    tmp_path: Path, corpus: Path, db_engine: str
) -> None:
    """The same tree indexed in-process and through the reader processes
    (compact outcomes, compressed bytes): the same rows and bytes."""
    if db_engine == "postgresql":
        pytest.skip("one index per home: on PostgreSQL both would share the database")
    roots = [corpus / name for name in ROOT_NAMES]
    figures = []
    for processes in (0, 2):
        home = tmp_path / f"home-{processes}"
        with DispatchIndex(home=home) as index:
            index.config.reader_processes = processes
            index.add_dirs(roots)
            index.scan()
            rows = _rows(index)
            data = {i: index.result_bytes(i) for i in rows if rows[i][4] is not None}
            shown = {i: Path(index.get(i).path) / "result.pkl" for i in data}
            figures.append((rows, data))
    assert figures[0] == figures[1]
    # The bytes as read, from the copy shown.
    for dispatch_id, data in figures[1][1].items():
        assert data == shown[dispatch_id].read_bytes()


def test_compact_round_trip(corpus: Path) -> None:
    root = corpus / ROOT_NAMES[0]
    for folder in sorted(p.parent for p in root.glob("*/result.pkl")):
        outcome = read_dispatch(folder, root=str(root))
        back = expand(compact(outcome))
        expected = {**vars(outcome.record), "nodes": [], "result": None}
        assert vars(back.record) == expected
        assert back.transient == outcome.transient
        assert back.document_json == outcome.document_json


def test_the_pool_hands_back_compressed_bytes(corpus: Path) -> None:
    root = corpus / ROOT_NAMES[0]
    folders = sorted(p.parent for p in root.glob("*/result.pkl"))
    tasks = [ReadTask(str(f), str(root), "scan", 0.0, 1 << 30) for f in folders]
    with ReadPool(1, 1024, 30.0) as pool:
        outcomes = pool.read_many(tasks)
    assert len(outcomes) == len(folders)
    for folder, outcome in zip(folders, outcomes, strict=True):
        if outcome.data is not None:
            assert outcome.data_encoding == ZSTD
            assert len(outcome.data) < (folder / "result.pkl").stat().st_size
