"""The listing pass (``scan.listing``) and the rescan's merge of the walk with the
stored locations (scanner._Stored, walk.find_dispatches, Store.stored_stats)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import peewee as pw
import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.scan import listing
from dispatch_indexer.scan.scanner import ScanInterrupted, Scanner
from dispatch_indexer.scan.walk import find_dispatches
from dispatch_indexer.store import provisional, write
from dispatch_indexer.text import storable

from ..realdata import ARITH, ROOT_NAMES

pytestmark = pytest.mark.engines


def _records(index: DispatchIndex) -> dict[str, object]:
    return {r.dispatch_id: r for r in index.list(include_missing=True)}


def test_a_new_root_is_listed_from_result_info_before_any_read(
    index: DispatchIndex, corpus: Path, manifest
) -> None:
    root = corpus / "results"
    index.add_dirs([root])
    listed = listing.list_root(index._store, index.config, str(root), frozenset())
    on_disk = {p.name for p in root.iterdir() if (p / "result.pkl").exists()}
    assert listed.count == len(on_disk)
    records = _records(index)
    assert set(records) == on_disk
    truth = {m["dispatch_id"]: m for m in manifest if m["results_dir"] == "results"}
    for dispatch_id, record in records.items():
        assert record.source == "listing"
        assert record.status == truth[dispatch_id]["status"]
        assert record.lattice_name is None and record.sha256 is None
        if truth[dispatch_id]["start_time"]:
            # To the minute: all result_info.yaml holds.
            assert record.start_time.isoformat()[:16] == truth[dispatch_id]["start_time"][:16]
    assert index.counts() == {
        s: sum(1 for m in truth.values() if m["status"] == s)
        for s in {m["status"] for m in truth.values()}
    }
    # Nothing is known of the folders yet: the scan reads every one, and
    # counts them as new, replacing each provisional record.
    summary = index.scan()
    assert summary.new == len(on_disk) and summary.listed == 0
    for dispatch_id, record in _records(index).items():
        assert record.source == "scan", dispatch_id
        assert record.lattice_name == truth[dispatch_id]["lattice_name"]
        start = record.start_time.isoformat() if record.start_time else None
        assert start == truth[dispatch_id]["start_time"]


def test_the_first_scan_of_a_root_lists_first_and_a_rescan_does_not(
    index: DispatchIndex, corpus: Path, manifest
) -> None:
    index.add_dirs([corpus / name for name in ROOT_NAMES])
    first = index.scan()
    assert first.listed > 0
    assert first.new == len({m["dispatch_id"] for m in manifest})
    assert f"all {first.listed} listed in the first" in first.line()
    assert all(r.source == "scan" for r in index.list())
    second = index.scan()
    assert second.listed == 0 and second.new == 0 and second.updated == 0


def test_a_listed_folder_that_vanishes_before_its_read_is_dropped(
    index: DispatchIndex, corpus: Path
) -> None:
    root = corpus / "results"
    index.add_dirs([root])
    listing.list_root(index._store, index.config, str(root), frozenset())
    assert index.get(ARITH).source == "listing"
    shutil.rmtree(root / ARITH)
    summary = index.scan()
    assert summary.missing == 0
    assert ARITH not in _records(index)


def test_a_folder_not_named_by_its_id_is_listed_only_once_read(
    index: DispatchIndex, corpus: Path
) -> None:
    root = corpus / "results"
    os.rename(root / ARITH, root / "renamed-folder")
    index.add_dirs([root])
    listing.list_root(index._store, index.config, str(root), frozenset())
    # result_info.yaml names the dispatch, not the folder: left for the read.
    assert "renamed-folder" not in _records(index)
    assert ARITH not in _records(index)
    index.scan()
    assert index.get(ARITH).path == str(root / "renamed-folder")


def test_a_provisional_record_under_the_wrong_name_goes_when_read(
    index: DispatchIndex, corpus: Path
) -> None:
    # A folder named as Covalent names them, and a result_info.yaml that
    # agrees, but the pickle is another dispatch's.
    root = corpus / "results"
    fake = root / "11111111-2222-3333-4444-555555555555"
    shutil.copytree(root / ARITH, fake)
    info = (fake / "result_info.yaml").read_text().replace(ARITH, fake.name)
    (fake / "result_info.yaml").write_text(info)
    index.add_dirs([root])
    listing.list_root(index._store, index.config, str(root), frozenset())
    assert index.get(fake.name).source == "listing"
    index.scan()
    assert fake.name not in _records(index)
    assert index.get(ARITH).source == "scan"


def test_a_listing_stopped_half_way_is_finished_by_the_next_scan(
    index: DispatchIndex, corpus: Path, manifest
) -> None:
    root = corpus / "results"
    index.add_dirs([root])
    calls = iter(range(1000))
    scanner = Scanner(index._store, index.config, should_stop=lambda: next(calls) >= 3)
    with pytest.raises(ScanInterrupted):
        scanner.run([str(root)])
    assert 0 < len(_records(index)) < len(list(root.iterdir()))
    index.scan()
    truth = {m["dispatch_id"] for m in manifest if m["results_dir"] == "results"}
    assert set(_records(index)) == truth
    assert all(r.source == "scan" for r in index.list())


def test_a_root_with_known_folders_is_not_listed_again(index: DispatchIndex, corpus: Path) -> None:
    root = corpus / "results"
    index.add_dirs([root])
    index.scan()
    extra = root / "99999999-8888-7777-6666-555555555555"
    shutil.copytree(root / ARITH, extra)
    listed = listing.list_root(index._store, index.config, str(root), frozenset())
    assert listed.count == 0


# ---- the rescan's merge -----------------------------------------------------


def _tricky_tree(root: Path, template: Path) -> list[str]:
    """Dispatch folders whose names sort around "/" ("a" holds dispatches,
    "a-1" and "a.b" are dispatches), at several depths."""
    folders = ["a/x", "a/y", "a-1", "a.b", "a0", "b/c/d", "b/c-e", "b-c", "B", "é", "z"]
    for name in folders:
        shutil.copytree(template, root / name)
    return [str(root / name) for name in folders]


def test_the_walk_comes_in_path_order_where_names_allow(tmp_path: Path, corpus: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    folders = _tricky_tree(root, corpus / "results" / ARITH)
    walked = [found.folder for found in find_dispatches(str(root))]
    assert sorted(walked) == sorted(folders)
    # Sorted but for a folder of dispatches with a sibling named as it is
    # plus a character before "/" ("a" before "a-1"): the merge's job.
    assert walked == [
        str(root / n)
        for n in ["B", "a/x", "a/y", "a-1", "a.b", "a0", "b/c/d", "b/c-e", "b-c", "z", "é"]
    ]


def test_a_rescan_of_a_tricky_tree_finds_every_change(
    index: DispatchIndex, tmp_path: Path, corpus: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    template = corpus / "results" / ARITH
    _tricky_tree(root, template)
    index.add_dirs([root])
    index.scan()
    assert index.scan().unchanged == 11
    shutil.rmtree(root / "a-1")
    shutil.rmtree(root / "b" / "c")
    shutil.copytree(template, root / "a" / "w")
    pkl = root / "a.b" / "result.pkl"
    os.utime(pkl, (pkl.stat().st_atime, pkl.stat().st_mtime + 5))
    summary = index.scan()
    assert (summary.unchanged, summary.updated) == (8, 2)  # a/w: the same dispatch id
    locations = set(index._store.known_locations(str(root)))
    assert locations == {
        str(root / n) for n in ["a/w", "a/x", "a/y", "a.b", "a0", "b/c-e", "b-c", "B", "é", "z"]
    }


def test_the_stored_stats_come_in_path_order_across_chunks(
    indexed: DispatchIndex, corpus: Path
) -> None:
    rows = list(indexed._store.stored_stats(str(corpus), chunk=2))
    paths = [row[0] for row in rows]
    assert paths == sorted(paths)
    assert set(paths) == set(indexed._store.known_locations(str(corpus)))
    for path, size, mtime_ns, inode in rows:
        st = os.stat(os.path.join(path, "result.pkl"))
        assert (size, mtime_ns, inode) == (st.st_size, st.st_mtime_ns, st.st_ino)


def test_a_registered_root_inside_another_keeps_its_locations(
    index: DispatchIndex, corpus: Path
) -> None:
    outer = corpus / "results-alt"
    inner = outer / "nested"
    index.add_dirs([outer, inner])
    index.scan()
    before = set(index._store.known_locations(str(outer)))
    assert before
    summary = index.scan()
    assert summary.missing == 0
    assert set(index._store.known_locations(str(outer))) == before
    assert not [r for r in index.list(include_missing=True) if r.missing]


def test_listed_records_serialise_like_read_ones(index: DispatchIndex, corpus: Path) -> None:
    root = corpus / "results"
    index.add_dirs([root])
    listing.list_root(index._store, index.config, str(root), frozenset())
    record = index.get(ARITH)
    json.dumps(record.to_json())
    assert record.to_json()["source"] == "listing"


def _listing_row(dispatch_id: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "dispatch_id": dispatch_id,
        "path": f"/r/{dispatch_id}",
        "results_dir": "/r",
        "size": 6662,
        "mtime_ns": 1_795_564_640_748_134_333,
        "inode": 6_972_930,
        "status": None,
        "start_time": None,
        "end_time": None,
        "sort_time": dt.datetime(2026, 11, 24, 22, 59, tzinfo=dt.timezone.utc),
    }
    row.update(values)
    return row


def test_a_batch_in_one_statement_stores_what_row_by_row_does(index: DispatchIndex) -> None:
    """On SQLite a batch of provisional records goes over as INSERTs of many
    rows each (Compiled.run_rows), bound from ``ROW`` tuples; every value
    must land as peewee's row-by-row form lands it."""
    store = index._store
    now = dt.datetime(2026, 11, 25, 4, 52, 58, 946415, tzinfo=dt.timezone.utc)
    shared: dict[str, object] = {
        "root": "/r", "source": listing.SOURCE, "first_seen": now, "updated_at": now,
    }  # fmt: skip
    start = dt.datetime(2026, 11, 24, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    # (suffix of the id and path, other values)
    variants: list[tuple[str, dict[str, object]]] = [
        ("", {"status": "COMPLETED", "start_time": start, "end_time": start}),
        ("caf\udce9", {}),  # a folder name that is not UTF-8
        ("é\U0001f600", {"status": 'NUL\x00, \ud800, "quotes" and \\'}),
        ("", {"size": 0, "mtime_ns": -1, "inode": 2**63 - 1}),
    ]
    statement = store.scope.statement(provisional.build_listing)
    for i, (suffix, values) in enumerate(variants):
        row = _listing_row(f"b{i}{suffix}", **values)
        batch = store.listing_batch([tuple(row[c] for c in provisional.ROW)], shared)
        assert store.list_new(batch) == 1
        with store.database.atomic():
            single = {**_listing_row(f"s{i}{suffix}", **values), **shared, "host": store.host}
            assert statement.run(single) == 1
    D = store.tables.Dispatch
    columns = [f for f in D._meta.sorted_fields if f.name not in ("dispatch_id", "path")]
    stored = {
        row[0]: row[1:]
        for row in D.select(D.dispatch_id, *columns).order_by(D.dispatch_id).tuples()
    }
    assert len(stored) == 2 * len(variants)
    for i, (suffix, values) in enumerate(variants):
        batched = stored[storable(f"b{i}{suffix}")]
        assert batched == stored[storable(f"s{i}{suffix}")], values
        if values.get("start_time"):
            assert batched[[c.name for c in columns].index("start_time")] == start
    # ... and with the same storage class in every column.
    typeof = pw.fn.typeof if isinstance(store.database, pw.SqliteDatabase) else pw.fn.pg_typeof
    types = D.select(D.dispatch_id, *(pw.Cast(typeof(c), "text") for c in columns))
    stored_types = {row[0]: row[1:] for row in types.tuples()}
    for i, (suffix, _values) in enumerate(variants):
        assert stored_types[storable(f"b{i}{suffix}")] == stored_types[storable(f"s{i}{suffix}")]


def test_a_batch_of_bytes_is_written(index: DispatchIndex) -> None:
    store = index._store
    statement = store.scope.statement(write.build_blob)
    row = {"dispatch_id": "x", "data": b"\x00\xff", "sha256": "0" * 64, "encoding": None}
    with store.database.atomic():
        assert statement.run_rows([statement.params(row)]) == 1
    assert bytes(store.tables.ResultBlob.get_by_id("x").data) == b"\x00\xff"


def test_the_walk_closes_every_folder_it_opened(tmp_path: Path, corpus: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    _tricky_tree(root, corpus / "results" / ARITH)
    before = len(os.listdir("/proc/self/fd"))
    assert len(list(find_dispatches(str(root)))) == 11
    walk = find_dispatches(str(root))
    assert [next(walk).folder for _ in range(2)][-1] == str(root / "a" / "x")
    walk.close()  # abandoned with two folders open
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize("top", [True, False], ids=["the folder scanned", "a folder below"])
def test_a_result_written_as_the_watch_goes_up_is_found(
    tmp_path: Path, corpus: Path, top: bool
) -> None:
    # The daemon scans a folder that just appeared and watches it
    # (``on_folder``); Covalent's result.pkl landing between the walk's look
    # and the watch sends its close to no watch: the walk must look again.
    root = tmp_path / "results"
    folder = root / "new" if top else root / "new" / "inner"
    folder.mkdir(parents=True)
    template = corpus / "results" / ARITH

    def watch(path: str) -> None:
        if path == str(folder) and not (folder / "result.pkl").exists():
            shutil.copytree(template, folder, dirs_exist_ok=True)

    start = folder if top else root / "new"
    assert [f.folder for f in find_dispatches(str(start), on_folder=watch)] == [str(folder)]
