"""A Covalent client's caches as roots, and one record per dispatch from
several sources: the server's database, the client's downloads and its
manifests, the most authoritative copy shown and the next best when it goes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dispatch_indexer import DispatchIndex

from ..conftest import copy_fixtures
from ..daemon_helpers import DaemonProcess, get, wait_for
from ..fault_helpers import configure
from ..realdata import (
    ARITH_240,
    CANCELLED_240,
    FAILED_240,
    FIXTURES_240,
    INNER_240,
    OUTER_240,
)

# Run on both engines (see conftest).
pytestmark = pytest.mark.engines

UTC = dt.timezone.utc
MANIFEST: dict[str, dict[str, Any]] = {
    m["dispatch_id"]: m for m in json.loads((FIXTURES_240 / "manifest.json").read_text())
}
# A dispatch id no fixture has, for a manifest copied under it.
UNSEEN = "0badc0de-0000-4000-8000-000000000000"


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def client(tmp_path: Path) -> Path:
    """A writable copy of the 0.240 client's caches: ``dispatches/`` and ``results/``."""
    return copy_fixtures(tmp_path / "cache", FIXTURES_240 / "client")


def _register(index: DispatchIndex, *folders: Path) -> None:
    index.add_dirs(folders)


def _ids(index: DispatchIndex) -> list[str]:
    return [r.dispatch_id for r in index.iterate()]


def test_add_dir_registers_each_cache_as_its_kind(cli, client: Path) -> None:
    out = cli("add-dir", str(client / "dispatches"), str(client / "results")).output
    assert f"registered {client / 'dispatches'} (dispatch-cache:" in out
    assert f"registered {client / 'results'} (client-results:" in out
    kinds = {r["path"]: r["kind"] for r in json.loads(cli("dirs", "--json").output)}
    assert kinds == {
        str(client / "dispatches"): "dispatch-cache",
        str(client / "results"): "client-results",
    }
    for command in ("dirs", "status"):
        shown = cli(command).output
        assert "dispatch-cache" in shown and "client-results" in shown
    assert "10 new" in cli("scan", str(client / "dispatches")).output


def test_the_client_caches_alone(index: DispatchIndex, client: Path) -> None:
    _register(index, client / "dispatches", client / "results")
    summary = index.scan()
    assert summary.errors == [] and summary.new == len(MANIFEST)
    ids = _ids(index)
    assert sorted(ids) == sorted(MANIFEST)
    for dispatch_id, entry in MANIFEST.items():
        record = index.get(dispatch_id)
        assert record.lattice_name == entry["lattice_name"]
        assert record.num_nodes == entry["num_nodes"]
        # A download's result proves a completed dispatch; nothing else does.
        expected = "COMPLETED" if entry["status"] == "COMPLETED" else "UNKNOWN"
        assert record.status == expected
        assert record.origin == "client-results"
    assert index.get(ARITH_240).result == "6"
    assert (
        index.result_bytes(ARITH_240)
        == (client / "results" / ARITH_240 / "results.tobj").read_bytes()
    )
    # Unchanged entries are not read again.
    again = index.scan()
    assert (again.new, again.updated, again.unchanged) == (0, 0, 21)


def test_a_dispatch_known_only_to_the_dispatch_cache(
    index: DispatchIndex, client: Path, covalent_server: Path
) -> None:
    shutil.rmtree(client / "results" / FAILED_240)
    shutil.rmtree(covalent_server / "data" / FAILED_240)
    _register(index, client / "dispatches", client / "results", covalent_server / "data")
    index.scan()
    record = index.get(FAILED_240)
    assert (record.status, record.lattice_name, record.num_nodes) == ("UNKNOWN", "broken", 3)
    assert record.origin == "dispatch-cache" and not record.missing
    assert FAILED_240 in _ids(index)


@pytest.mark.parametrize("server_first", [True, False], ids=["server-first", "client-first"])
def test_one_record_per_dispatch_and_the_server_wins(
    index: DispatchIndex, client: Path, covalent_server: Path, server_first: bool
) -> None:
    server = covalent_server / "data"
    clients = [client / "dispatches", client / "results"]
    for folders in ([server], clients) if server_first else (clients, [server]):
        _register(index, *folders)
        assert index.scan().errors == []
    ids = _ids(index)
    assert len(ids) == len(set(ids)) == len(MANIFEST)
    for dispatch_id, entry in MANIFEST.items():
        record = index.get(dispatch_id)
        assert record.origin == "covalent-db"
        assert record.path == str(server / dispatch_id)
        assert record.status == entry["status"]
        assert record.lattice_name == entry["lattice_name"]
        assert record.num_nodes == entry["num_nodes"]
        assert record.start_time == _utc(entry["start_time"])
        assert record.end_time == _utc(entry["end_time"])
    assert index.get(CANCELLED_240).status == "CANCELLED"
    assert index.get(INNER_240).parent_dispatch_id == OUTER_240
    assert index.scan().unchanged == len(MANIFEST) + 10 + len(MANIFEST)


def test_the_server_folder_removed_shows_the_client_copy(
    index: DispatchIndex, client: Path, covalent_server: Path
) -> None:
    server = covalent_server / "data"
    _register(index, server, client / "dispatches", client / "results")
    index.scan()
    for dispatch_id in (ARITH_240, FAILED_240):
        shutil.rmtree(server / dispatch_id)
    summary = index.scan()
    assert summary.missing == 0
    arith = index.get(ARITH_240)
    assert (arith.status, arith.origin, arith.missing) == ("COMPLETED", "client-results", False)
    assert arith.path == str(client / "results" / ARITH_240)
    assert (arith.lattice_name, arith.num_nodes, arith.result) == ("arith", 6, "6")
    failed = index.get(FAILED_240)
    # The download of a failed dispatch proves nothing: UNKNOWN, as the client says.
    assert (failed.status, failed.origin) == ("UNKNOWN", "client-results")
    assert (failed.lattice_name, failed.num_nodes) == ("broken", 3)

    # Its download gone too, its manifest is the copy left...
    shutil.rmtree(client / "results" / FAILED_240)
    assert index.scan().missing == 0
    failed = index.get(FAILED_240)
    assert (failed.status, failed.origin) == ("UNKNOWN", "dispatch-cache")
    # ... and with no copy left, the record stays, missing.
    (client / "dispatches" / FAILED_240).unlink()
    assert index.scan().missing == 1
    assert index.get(FAILED_240).missing
    assert len(_ids(index)) == len(MANIFEST)


def test_the_server_copy_back_takes_over_again(
    index: DispatchIndex, client: Path, covalent_server: Path, tmp_path: Path
) -> None:
    server = covalent_server / "data"
    _register(index, server, client / "results")
    index.scan()
    shutil.move(server / FAILED_240, tmp_path / "away")
    index.scan()
    assert index.get(FAILED_240).origin == "client-results"
    shutil.move(tmp_path / "away", server / FAILED_240)
    index.scan()
    record = index.get(FAILED_240)
    assert (record.status, record.origin) == ("FAILED", "covalent-db")


def test_remove_dir_forget_of_the_server_shows_the_client_copies(
    index: DispatchIndex, client: Path, covalent_server: Path
) -> None:
    server = covalent_server / "data"
    _register(index, server, client / "results")
    index.scan()
    index.remove_dir(server, forget=True)
    assert sorted(_ids(index)) == sorted(MANIFEST)
    record = index.get(ARITH_240)
    assert (record.origin, record.status, record.missing) == ("client-results", "COMPLETED", False)


def test_a_folder_inside_a_client_root_is_synced_as_that_root(
    index: DispatchIndex, client: Path
) -> None:
    _register(index, client / "results")
    summary = index.scan([client / "results" / ARITH_240])
    assert summary.new == len(MANIFEST) and summary.missing == 0


def test_manifests_come_and_go(index: DispatchIndex, client: Path) -> None:
    cache = client / "dispatches"
    _register(index, cache)
    assert index.scan().new == 10
    text = (cache / ARITH_240).read_text().replace(ARITH_240, UNSEEN)
    (cache / UNSEEN).write_text(text)
    (cache / "not-a-dispatch").write_text("{}")
    summary = index.scan()
    assert (summary.new, summary.unchanged) == (1, 10)
    assert index.get(UNSEEN).lattice_name == "arith"
    (cache / UNSEEN).unlink()
    assert index.scan().missing == 1
    assert index.get(UNSEEN).missing


def test_an_unreadable_manifest_says_why_and_loses_nothing(
    index: DispatchIndex, client: Path
) -> None:
    cache = client / "dispatches"
    _register(index, cache)
    index.scan()
    (cache / ARITH_240).write_text("{not json")
    # Written long ago: not a manifest being written, a broken one.
    os.utime(cache / ARITH_240, (1e9, 1e9))
    summary = index.scan()
    assert summary.unreadable == 1 and summary.errors == []
    record = index.get(ARITH_240)
    assert record.unreadable and "dispatch manifest" in record.unreadable
    assert record.lattice_name == "arith"  # kept from the good read before


def test_a_soft_deleted_dispatch_is_marked_and_still_listed(
    index: DispatchIndex, covalent_server: Path
) -> None:
    with sqlite3.connect(covalent_server / "dispatcher_db.sqlite") as conn:
        conn.execute("UPDATE lattices SET is_active = 0 WHERE dispatch_id = ?", (FAILED_240,))
    _register(index, covalent_server / "data")
    index.scan()
    record = index.get(FAILED_240)
    assert (record.covalent_state, record.status) == ("deleted", "FAILED")
    assert FAILED_240 in _ids(index)
    assert index.get(ARITH_240).covalent_state == "active"


def test_sub_workflows_are_linked_both_ways(index: DispatchIndex, covalent_server: Path) -> None:
    _register(index, covalent_server / "data")
    index.scan()
    inner = index.get(INNER_240)
    assert (inner.parent_dispatch_id, inner.parent_node_id) == (OUTER_240, 0)
    assert index.sub_workflows(OUTER_240) == [(INNER_240, 0)]
    assert index.sub_workflows(ARITH_240) == []


# ---- the daemon ----------------------------------------------------------------


@pytest.fixture
def daemon(client: Path, home: Path) -> Iterator[DaemonProcess]:
    with DispatchIndex() as index:
        index.add_dirs([client / "dispatches"])
    configure(poll_interval=0.2)
    process = DaemonProcess().start()
    yield process
    process.stop()


@pytest.mark.sqlite_only
def test_the_daemon_polls_a_dispatch_cache(daemon: DaemonProcess, client: Path) -> None:
    cache = client / "dispatches"
    wait_for(lambda: get(ARITH_240) is not None, 10, "the first sync")
    with DispatchIndex() as index:
        (root,) = index.dirs()
        assert root.kind == "dispatch-cache"
    text = (cache / ARITH_240).read_text().replace(ARITH_240, UNSEEN)
    tmp = cache / ".new"
    tmp.write_text(text)
    os.replace(tmp, cache / UNSEEN)
    record = wait_for(lambda: get(UNSEEN), 10, "the new manifest")
    assert (record.status, record.lattice_name) == ("UNKNOWN", "arith")
    (cache / UNSEEN).unlink()
    wait_for(lambda: (get(UNSEEN) or record).missing, 10, "the manifest gone")


def test_an_empty_client_cache_is_registered_by_its_name(
    index: DispatchIndex, client: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "home" / ".cache" / "covalent" / "dispatches"
    cache.mkdir(parents=True)
    index.add_dirs([cache])
    assert index.config.root(str(cache)).kind == "dispatch-cache"
    assert index.scan().new == 0
    shutil.copy2(client / "dispatches" / ARITH_240, cache / ARITH_240)
    assert index.scan().new == 1
    assert index.get(ARITH_240).status == "UNKNOWN"
