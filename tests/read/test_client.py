"""The client's caches alone: names and task counts, and a status only where a
file proves it; and what a folder is, from a bounded look."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dispatch_indexer.read.client import (
    UNKNOWN,
    iter_dispatch_cache,
    iter_results_folder,
    read_cached_dispatch,
    read_downloaded_result,
)
from dispatch_indexer.read.detect import FolderKind, detect, find_database

from ..realdata import (
    ARITH_240,
    CLIENT_DISPATCHES_240,
    CLIENT_RESULTS_240,
    FIXTURES,
    FIXTURES_240,
    INNER_240,
    RUNNING_DB_240,
    SERVER_DATA_240,
    SERVER_DB_240,
)

MANIFEST = {m["dispatch_id"]: m for m in json.loads((FIXTURES_240 / "manifest.json").read_text())}


def test_the_dispatch_cache_names_every_submission_and_proves_no_status() -> None:
    records = {r.dispatch_id: r for r in iter_dispatch_cache(CLIENT_DISPATCHES_240)}
    # Every dispatch but the one the server made itself (the sub-workflow).
    assert set(records) == set(MANIFEST) - {INNER_240}
    for dispatch_id, record in records.items():
        entry = MANIFEST[dispatch_id]
        assert record.status == UNKNOWN
        assert record.lattice_name == entry["lattice_name"]
        assert record.num_nodes == entry["num_nodes"]
        assert record.unreadable is None
        assert all(node.status is None for node in record.nodes)
        assert record.start_time is None and record.end_time is None


def test_the_results_folder_proves_completed_and_nothing_else() -> None:
    records = {r.dispatch_id: r for r in iter_results_folder(CLIENT_RESULTS_240)}
    assert set(records) == set(MANIFEST)
    for dispatch_id, record in records.items():
        entry = MANIFEST[dispatch_id]
        assert record.lattice_name == entry["lattice_name"]
        assert record.num_nodes == entry["num_nodes"]
        assert record.unreadable is None
        if entry["status"] == "COMPLETED":
            assert record.status == "COMPLETED"
            assert record.result is not None
        else:  # failed and cancelled dispatches leave no result asset
            assert record.status == UNKNOWN
            assert record.result is None
    assert records[ARITH_240].result == "6"


def _writable_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def test_unreadable_cache_entries_say_why(tmp_path: Path) -> None:
    broken = tmp_path / ARITH_240
    broken.write_text("{not json")
    record = read_cached_dispatch(broken)
    assert record.status == UNKNOWN
    assert record.unreadable is not None and "dispatch manifest" in record.unreadable
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    assert read_cached_dispatch(listed).unreadable == "dispatch manifest: not a JSON object"


def test_a_damaged_downloaded_result_is_not_proof(tmp_path: Path) -> None:
    folder = _writable_copy(CLIENT_RESULTS_240 / ARITH_240, tmp_path / ARITH_240)
    (folder / "results.tobj").write_bytes(b"\x00" * 8)
    record = read_downloaded_result(folder)
    assert record.status == UNKNOWN
    assert record.unreadable is not None and "truncated" in record.unreadable


def _kind(path: Path, database: Path | None = None) -> FolderKind:
    return detect(path, database).kind


def test_detect_the_fixture_folders() -> None:
    share = detect(FIXTURES_240 / "server")
    assert share.kind == FolderKind.DATA_DIR
    assert (share.path, share.database) == (SERVER_DATA_240, SERVER_DB_240)
    data = detect(SERVER_DATA_240)
    assert (data.kind, data.database) == (FolderKind.DATA_DIR, SERVER_DB_240)
    assert _kind(CLIENT_DISPATCHES_240) == FolderKind.DISPATCH_CACHE
    assert _kind(CLIENT_RESULTS_240) == FolderKind.CLIENT_RESULTS
    assert _kind(FIXTURES / "results") == FolderKind.LEGACY_RESULTS
    assert _kind(FIXTURES_240) == FolderKind.UNKNOWN
    assert find_database(SERVER_DATA_240) == SERVER_DB_240


def test_detect_a_data_dir_with_its_database_named(tmp_path: Path) -> None:
    data = _writable_copy(SERVER_DATA_240, tmp_path / "data")
    # Moved away from its database: only the files can speak...
    assert _kind(data) == FolderKind.CLIENT_RESULTS
    # ...until the database is named.
    named = detect(data, RUNNING_DB_240)
    assert (named.kind, named.database) == (FolderKind.DATA_DIR, RUNNING_DB_240)


def test_detect_a_client_cache_before_its_first_dispatch_by_name(tmp_path: Path) -> None:
    cache = tmp_path / ".cache" / "covalent"
    for name in ("dispatches", "results", "other"):
        (cache / name).mkdir(parents=True)
        (tmp_path / "elsewhere" / name).mkdir(parents=True)
    assert _kind(cache / "dispatches") == FolderKind.DISPATCH_CACHE
    assert _kind(cache / "results") == FolderKind.CLIENT_RESULTS
    assert _kind(cache / "other") == FolderKind.UNKNOWN
    # Named so elsewhere, an empty folder says nothing.
    assert _kind(tmp_path / "elsewhere" / "dispatches") == FolderKind.UNKNOWN
    assert _kind(tmp_path / "elsewhere" / "results") == FolderKind.UNKNOWN


def test_detect_is_not_fooled_by_lookalikes(tmp_path: Path) -> None:
    (tmp_path / "dispatcher_db.sqlite").write_text("not sqlite")
    (tmp_path / "data").mkdir()
    assert _kind(tmp_path) == FolderKind.UNKNOWN
    (tmp_path / ARITH_240).write_text("plain text")
    assert _kind(tmp_path) == FolderKind.UNKNOWN
    assert _kind(tmp_path / "absent") == FolderKind.UNKNOWN
    real = tmp_path / "real.sqlite"
    with sqlite3.connect(real) as conn:
        conn.execute("CREATE TABLE lattices (id)")
    assert detect(tmp_path / "data", real).kind == FolderKind.DATA_DIR


@pytest.mark.parametrize("count", [3, 700])
def test_detect_looks_at_a_bounded_number_of_entries(tmp_path: Path, count: int) -> None:
    for i in range(count):
        (tmp_path / f"{i:08d}-0000-4000-8000-000000000000").write_text(json.dumps({"i": i}))
    detection = detect(tmp_path)
    assert detection.kind == FolderKind.DISPATCH_CACHE
    found: Any = int(detection.reason.split()[0])
    assert found <= 500
