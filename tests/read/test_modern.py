"""A modern server's database and data dir, as records: they match what
Covalent's own API reported for every dispatch (the 0.240 manifest.json)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dispatch_indexer.read.modern import (
    ServerDispatch,
    last_error_line,
    read_result_bytes,
    read_server,
)
from dispatch_indexer.read.relocate import recorded_root, relocate
from dispatch_indexer.read.tobj import UnreadableAssetError

from ..realdata import (
    ARITH_240,
    CANCELLED_240,
    FAILED_240,
    FIXTURES_240,
    HEAVY_240,
    INNER_240,
    NUMERIC_240,
    OUTER_240,
    RUNNING_DB_240,
    SERVER_DATA_240,
    SERVER_DB_240,
    SLEEPY_240,
)

UTC = dt.timezone.utc
MANIFEST: list[dict[str, Any]] = json.loads((FIXTURES_240 / "manifest.json").read_text())


@pytest.fixture(scope="module")
def server() -> dict[str, ServerDispatch]:
    read = read_server(SERVER_DB_240, SERVER_DATA_240)
    return {d.record.dispatch_id: d for d in read.dispatches}


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "entry", MANIFEST, ids=lambda m: f"{m['lattice_name']}-{m['dispatch_id'][:8]}"
)
def test_every_dispatch_matches_the_manifest(
    server: dict[str, ServerDispatch], entry: dict[str, Any]
) -> None:
    dispatch = server[entry["dispatch_id"]]
    record = dispatch.record
    assert record.status == entry["status"]
    assert record.lattice_name == entry["lattice_name"]
    assert record.num_nodes == entry["num_nodes"]
    assert record.start_time == _utc(entry["start_time"])
    assert record.end_time == _utc(entry["end_time"])
    assert record.unreadable is None
    assert record.path == str(SERVER_DATA_240 / entry["dispatch_id"])
    assert record.results_dir == str(SERVER_DATA_240)
    assert [n.node_id for n in record.nodes] == sorted(int(i) for i in entry["node_statuses"])
    assert {str(n.node_id): n.status for n in record.nodes} == entry["node_statuses"]
    if entry["error_contains"]:
        assert record.error is not None and entry["error_contains"] in record.error
    else:
        assert record.error is None
    if entry["status"] == "COMPLETED":
        assert record.result is not None
        # The string part is str(result); Covalent's API reported its repr.
        if entry["lattice_name"] not in ("heavy", "numeric"):
            assert entry["result_repr"] in (record.result, repr(record.result))
    else:
        assert record.result is None


def test_the_failed_dispatch_names_its_task_and_exception(
    server: dict[str, ServerDispatch],
) -> None:
    record = server[FAILED_240].record
    assert record.error is not None
    assert "0: fail: RuntimeError: the task failed" in record.error
    fail = record.nodes[0]
    assert (fail.name, fail.status, fail.error) == (
        "fail",
        "FAILED",
        "RuntimeError: the task failed",
    )
    stderr = SERVER_DATA_240 / FAILED_240 / "node_0" / "stderr.log"
    assert last_error_line(stderr) == "RuntimeError: the task failed"


def test_the_cancelled_dispatch(server: dict[str, ServerDispatch]) -> None:
    record = server[CANCELLED_240].record
    assert record.status == "CANCELLED"
    assert record.error is None and record.result is None
    assert read_result_bytes(server[CANCELLED_240]) is None


def test_the_sub_workflow_is_linked_to_its_parent(server: dict[str, ServerDispatch]) -> None:
    inner, outer = server[INNER_240], server[OUTER_240]
    assert (inner.parent_dispatch_id, inner.parent_node_id) == (OUTER_240, 0)
    assert outer.sub_dispatches == {0: INNER_240}
    assert outer.record.nodes[0].name == ":sublattice:inner"
    assert server[ARITH_240].parent_dispatch_id is None


def test_large_results_are_previewed_not_loaded(server: dict[str, ServerDispatch]) -> None:
    heavy = server[HEAVY_240].record.result
    assert heavy is not None and heavy.startswith("b'\\x00\\x00") and len(heavy) < 5000
    assert heavy.endswith("bytes]")
    numeric = server[NUMERIC_240].record.result
    assert numeric is not None and numeric.startswith("[  0.   1.   2.")


def test_the_result_bytes_are_the_relocated_result_asset(
    server: dict[str, ServerDispatch],
) -> None:
    arith = server[ARITH_240]
    assert arith.result_path == SERVER_DATA_240 / ARITH_240 / "node_5" / "results.tobj"
    assert read_result_bytes(arith) == arith.result_path.read_bytes()
    with pytest.raises(UnreadableAssetError, match="limit"):
        read_result_bytes(server[HEAVY_240], max_size=1000)
    logs = arith.node_assets[0]
    assert logs["stderr"] == SERVER_DATA_240 / ARITH_240 / "node_0" / "stderr.log"


def test_the_running_copy_shows_running_dispatches() -> None:
    read = read_server(RUNNING_DB_240, SERVER_DATA_240)
    records = {d.record.dispatch_id: d.record for d in read.dispatches}
    assert records[SLEEPY_240].status == "RUNNING"
    assert records[SLEEPY_240].end_time is None
    assert records[ARITH_240].status == "COMPLETED"
    running = [r.lattice_name for r in records.values() if r.status == "RUNNING"]
    assert len(running) >= 3


def test_incremental_read_and_high_water() -> None:
    full = read_server(SERVER_DB_240, SERVER_DATA_240)
    assert full.revision == "7e9fb153ecfb"
    assert full.high_water is not None
    later = read_server(SERVER_DB_240, SERVER_DATA_240, since=full.high_water)
    assert [d.record.dispatch_id for d in later.dispatches] == [SLEEPY_240]


def _copy_server(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "moved" / "data"
    shutil.copytree(SERVER_DATA_240, data)
    database = tmp_path / "moved" / "dispatcher_db.sqlite"
    shutil.copyfile(SERVER_DB_240, database)
    return database, data


def test_soft_deleted_dispatches_are_kept_and_marked(tmp_path: Path) -> None:
    database, data = _copy_server(tmp_path)
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE lattices SET is_active = 0 WHERE dispatch_id = ?", (ARITH_240,))
    records = {d.record.dispatch_id: d.record for d in read_server(database, data).dispatches}
    assert records[ARITH_240].covalent_state == "deleted"
    assert records[ARITH_240].status == "COMPLETED"
    assert records[FAILED_240].covalent_state == "active"
    assert records[FAILED_240].origin == "covalent-db"


def test_a_hostile_result_asset_gives_a_reason(tmp_path: Path) -> None:
    database, data = _copy_server(tmp_path)
    asset = data / ARITH_240 / "node_5" / "results.tobj"
    asset.chmod(0o644)
    asset.write_bytes(b"\xff" * 40)
    records = {d.record.dispatch_id: d.record for d in read_server(database, data).dispatches}
    assert records[ARITH_240].unreadable is not None
    assert "results.tobj" in records[ARITH_240].unreadable
    assert "past its end" in records[ARITH_240].unreadable
    assert records[ARITH_240].status == "COMPLETED"


def test_a_schema_without_asset_tables_uses_storage_path_and_filenames(tmp_path: Path) -> None:
    # Covalent before the asset tables kept each dispatch's files at
    # lattices.storage_path + results_filename, each task's at its own
    # storage_path (<dispatch>/node_<n>) + *_filename.
    database, data = _copy_server(tmp_path)
    (data / ARITH_240).chmod(0o755)
    shutil.copyfile(data / ARITH_240 / "node_5" / "results.tobj", data / ARITH_240 / "results.tobj")
    with sqlite3.connect(database) as conn:
        for table in ("lattice_assets", "electron_assets", "assets"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("ALTER TABLE lattices DROP COLUMN results_dir")
        conn.execute(
            "UPDATE electrons SET storage_path = ("
            " SELECT l.storage_path FROM lattices l WHERE l.id = parent_lattice_id)"
            " || '/node_' || transport_graph_node_id"
        )
    records = {d.record.dispatch_id: d for d in read_server(database, data).dispatches}
    arith = records[ARITH_240]
    assert arith.record.result == "6"
    assert arith.result_path == data / ARITH_240 / "results.tobj"
    failed = records[FAILED_240].record
    assert failed.nodes[0].error == "RuntimeError: the task failed"


@pytest.mark.parametrize(
    ("recorded", "kwargs", "expected"),
    [
        ("/old/data", {"root": "/old/data", "tail": "abc/node_0/x.log"}, "abc/node_0/x.log"),
        ("/old/data/abc", {"root": "/old/data"}, "abc"),
        ("/elsewhere/abc/node_1", {"root": "/old/data", "dispatch_id": "abc"}, "abc/node_1"),
        ("/old/data", {"root": "/old/data", "tail": "../../etc/passwd"}, None),
        ("/old/data", {"root": "/old/data", "tail": "/etc/passwd"}, None),
        ("/unrelated/path", {"root": "/old/data", "dispatch_id": "abc"}, None),
        (None, {"root": "/old/data"}, None),
    ],
)
def test_relocate(recorded: str | None, kwargs: dict[str, Any], expected: str | None) -> None:
    new = Path("/new/data")
    got = relocate(recorded, new, **kwargs)
    assert got == (new / expected if expected is not None else None)


def test_recorded_root() -> None:
    assert recorded_root("/a/data/abc", "abc") == "/a/data"
    assert recorded_root("/a/data/abc", "abc", "/b/data") == "/b/data"
    assert recorded_root("/a/data/other", "abc") is None
