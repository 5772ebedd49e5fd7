"""A Covalent 0.240 server registered as a root: add-dir recognises its
data dir, scan lists every dispatch of the manifest, and rescans follow the
database (running, final again, deleted, busy) without losing history."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.errors import BadInputError, ConfigError
from dispatch_indexer.records import ScanSummary
from dispatch_indexer.scan.server import ServerCursor

from ..realdata import (
    ARITH_240,
    CANCELLED_240,
    FAILED_240,
    FIXTURES_240,
    INNER_240,
    OUTER_240,
    RUNNING_DB_240,
    SERVER_DB_240,
    SLEEPY_240,
    covalent_mid_commit,
)

# Run on both engines (see conftest).
pytestmark = pytest.mark.engines

UTC = dt.timezone.utc
MANIFEST: list[dict[str, Any]] = json.loads((FIXTURES_240 / "manifest.json").read_text())
DB_NAME = "dispatcher_db.sqlite"


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _put_database(source: Path, dest: Path) -> None:
    """Replace the database whole, as a restore would (never half-written)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, dest)


@pytest.fixture
def server(index: DispatchIndex, covalent_server: Path) -> Path:
    """The copied server's data dir, registered and scanned."""
    data = covalent_server / "data"
    index.add_dirs([data])
    summary = index.scan()
    assert summary.errors == []
    return data


def test_add_dir_recognises_a_data_dir_with_its_database_beside_it(
    cli, covalent_server: Path
) -> None:
    data = covalent_server / "data"
    out = cli("add-dir", str(data)).output
    database = covalent_server / DB_NAME
    assert f"registered {data} (Covalent server data, database {database})" in out
    (root,) = json.loads(cli("dirs", "--json").output)
    assert (root["kind"], root["covalent_db"]) == ("covalent-data", str(database))
    assert "covalent-data" in cli("dirs").output


def test_add_dir_of_the_share_folder_registers_its_data_dir(
    index: DispatchIndex, covalent_server: Path
) -> None:
    assert index.add_dirs([covalent_server]) == [str(covalent_server / "data")]
    assert index.config.roots[0].kind == "covalent-data"


def test_add_dir_with_covalent_db(cli, covalent_server: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "covalent.sqlite"
    elsewhere.parent.mkdir()
    (covalent_server / DB_NAME).rename(elsewhere)
    data = covalent_server / "data"
    # Without its database, a data dir looks like a client's downloads...
    assert "client-results" in cli("add-dir", str(data)).output
    # ... and registered again with it, it is the server's.
    out = cli("add-dir", str(data), "--covalent-db", str(elsewhere)).output
    assert f"database {elsewhere}" in out
    assert "11 new" in cli("scan").output


def test_covalent_db_for_a_results_folder_is_refused(
    index: DispatchIndex, corpus: Path, covalent_server: Path
) -> None:
    with pytest.raises(BadInputError, match="not its data dir"):
        index.add_dirs([corpus / "results"], covalent_db=covalent_server / DB_NAME)
    assert index.config.roots == []


def test_kinds_survive_the_config_file(index: DispatchIndex, covalent_server: Path) -> None:
    index.add_dirs([covalent_server / "data"])
    with DispatchIndex() as again:
        (root,) = again.config.roots
        assert root.kind == "covalent-data"
        assert root.covalent_db == str(covalent_server / DB_NAME)


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda m: m["dispatch_id"][:8])
def test_scan_lists_every_dispatch_of_the_manifest(
    index: DispatchIndex, server: Path, entry: dict[str, Any]
) -> None:
    record = index.get(entry["dispatch_id"])
    assert record.status == entry["status"]
    assert record.lattice_name == entry["lattice_name"]
    assert record.num_nodes == entry["num_nodes"]
    assert record.start_time == _utc(entry["start_time"])
    assert record.end_time == _utc(entry["end_time"])
    assert record.path == str(server / entry["dispatch_id"])
    assert record.root == str(server) and not record.missing
    assert {str(n.node_id): n.status for n in record.nodes} == entry["node_statuses"]
    if entry["error_contains"]:
        assert entry["error_contains"] in (record.error or "")


def test_the_listing_and_show(cli, index: DispatchIndex, server: Path) -> None:
    listed = {r.dispatch_id for r in index.iterate()}
    assert listed == {m["dispatch_id"] for m in MANIFEST}
    assert index.get(INNER_240).lattice_name == "inner"
    assert index.get(CANCELLED_240).status == "CANCELLED"
    shown = cli("show", FAILED_240).output
    assert "0: fail: RuntimeError: the task failed" in shown
    assert "11 unchanged" in cli("scan").output


def test_result_bytes_are_the_result_asset(index: DispatchIndex, server: Path) -> None:
    asset = server / ARITH_240 / "node_5" / "results.tobj"
    assert index.result_bytes(ARITH_240) == asset.read_bytes()
    assert index.get(ARITH_240).result == "6"


def test_running_then_final_again(index: DispatchIndex, server: Path) -> None:
    database = server.parent / DB_NAME
    _put_database(RUNNING_DB_240, database)
    summary = index.scan()
    assert summary.updated >= 3 and summary.new == 0
    assert index.get(SLEEPY_240).status == "RUNNING"
    assert index.get(SLEEPY_240).end_time is None
    assert index.get(ARITH_240).status == "COMPLETED"
    _put_database(SERVER_DB_240, database)
    summary = index.scan()
    assert summary.new == 0 and summary.updated >= 3
    assert index.get(SLEEPY_240).status == "COMPLETED"
    assert sum(index.counts().values()) == len(MANIFEST)


def test_a_status_changed_in_the_database_alone_is_seen(index: DispatchIndex, server: Path) -> None:
    # No file in the data dir changes: only the row and its updated_at.
    with sqlite3.connect(server.parent / DB_NAME) as conn:
        conn.execute(
            "UPDATE lattices SET status = 'CANCELLED', updated_at = '2026-12-01 00:00:00'"
            " WHERE dispatch_id = ?",
            (FAILED_240,),
        )
    summary = index.scan()
    assert summary.updated == 1
    assert index.get(FAILED_240).status == "CANCELLED"


def test_a_deleted_database_keeps_every_record(cli, index: DispatchIndex, server: Path) -> None:
    before = {r.dispatch_id: r.status for r in index.iterate()}
    (server.parent / DB_NAME).unlink()
    result = cli("scan")
    assert "warning:" in result.output and str(server) in result.output
    assert {r.dispatch_id: r.status for r in index.iterate()} == before
    assert not any(r.missing for r in index.iterate())


def test_a_dispatch_gone_from_the_database_is_kept(index: DispatchIndex, server: Path) -> None:
    with sqlite3.connect(server.parent / DB_NAME) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DELETE FROM lattices WHERE dispatch_id = ?", (ARITH_240,))
    summary = index.scan()
    assert summary.missing == 0
    record = index.get(ARITH_240)
    assert record.status == "COMPLETED" and not record.missing


def test_a_removed_dispatch_folder_is_missing(index: DispatchIndex, server: Path) -> None:
    shutil.rmtree(server / SLEEPY_240)
    summary = index.scan()
    assert summary.missing == 1
    assert index.get(SLEEPY_240).missing
    assert index.get(SLEEPY_240).status == "COMPLETED"
    assert not index.get(ARITH_240).missing


def test_a_busy_database_is_read_at_the_next_scan(index: DispatchIndex, server: Path) -> None:
    with covalent_mid_commit(server.parent / DB_NAME):
        summary = index.scan()
        assert summary.busy == 1 and summary.errors == []
        assert "busy" in summary.line()
        assert index.get(ARITH_240).status == "COMPLETED"
    summary = index.scan()
    assert summary.busy == 0
    assert index.get(ARITH_240).status == "CANCELLED"
    assert sum(index.counts().values()) == len(MANIFEST)


def test_a_results_root_around_a_data_dir_never_walks_it(
    index: DispatchIndex, server: Path
) -> None:
    # The share folder as a results root too: its walk leaves data/ to
    # the server sync, so nothing there is marked missing.
    index.config.roots.insert(0, type(index.config.roots[0])(path=str(server.parent)))
    summary = index.scan()
    assert summary.missing == 0
    assert not any(r.missing for r in index.iterate())


def test_scanning_a_folder_inside_a_data_dir_syncs_its_server(
    index: DispatchIndex, server: Path
) -> None:
    summary = index.scan([server / ARITH_240])
    assert summary.missing == 0 and summary.unchanged == len(MANIFEST)
    assert not index.get(ARITH_240).missing


def test_an_old_config_file_loads_its_roots_as_results(home: Path, corpus: Path) -> None:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[[roots]]\npath = "{corpus / "results"}"\nwatch = "auto"\n')
    with DispatchIndex() as index:
        (root,) = index.config.roots
        assert (root.kind, root.covalent_db) == ("results", None)
        assert index.scan().new > 0
    config.write_text(f'[[roots]]\npath = "{corpus / "results"}"\nkind = "client"\n')
    with pytest.raises(ConfigError, match="kind must be one of"):
        DispatchIndex()


# ---- incremental syncs (what the daemon runs) ---------------------------------------


def _sync(index: DispatchIndex, server: Path, **options: Any) -> ScanSummary:
    (root,) = index.config.roots
    return index.writer().sync_server(root, **options)


def test_an_incremental_sync_reads_only_what_changed(index: DispatchIndex, server: Path) -> None:
    cursor = ServerCursor()
    first = _sync(index, server, cursor=cursor)
    assert (first.unchanged, cursor.full_syncs) == (len(MANIFEST), 1)
    with sqlite3.connect(server.parent / DB_NAME) as conn:
        conn.execute(
            "UPDATE lattices SET status = 'CANCELLED', updated_at = '2026-12-01 00:00:00'"
            " WHERE dispatch_id = ?",
            (FAILED_240,),
        )
    summary = _sync(index, server, cursor=cursor)
    assert cursor.incremental_syncs == 1 and cursor.full_syncs == 1
    # Only the rows written since (and within the slack before) are compared.
    assert summary.updated == 1 and summary.unchanged <= 1
    assert index.get(FAILED_240).status == "CANCELLED"
    assert cursor.high_water == dt.datetime(2026, 12, 1, tzinfo=UTC)
    assert _sync(index, server, cursor=cursor).updated == 0


def test_a_database_replaced_is_reconciled(index: DispatchIndex, server: Path) -> None:
    cursor = ServerCursor()
    _sync(index, server, cursor=cursor)
    database = server.parent / DB_NAME
    # Written in place (the same inode): its high water went backwards.
    with sqlite3.connect(RUNNING_DB_240) as src, sqlite3.connect(database) as dst:
        src.backup(dst)
    summary = _sync(index, server, cursor=cursor)
    assert cursor.full_syncs == 2 and summary.updated >= 3
    assert index.get(SLEEPY_240).status == "RUNNING"
    # Another file put in its place: another inode.
    _put_database(SERVER_DB_240, database)
    summary = _sync(index, server, cursor=cursor)
    assert cursor.full_syncs == 3
    assert index.get(SLEEPY_240).status == "COMPLETED"


def test_an_unchanged_dispatch_is_not_read_again(index: DispatchIndex, server: Path) -> None:
    # Garbage of the same size and times in place of the result: only a
    # read of the asset could tell, and an unchanged mark is not read.
    asset = server / ARITH_240 / "node_5" / "results.tobj"
    st = asset.stat()
    with open(asset, "r+b") as handle:
        handle.write(b"\xff" * st.st_size)
    os.utime(asset, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _sync(index, server, cursor=ServerCursor()).unchanged == len(MANIFEST)
    assert index.get(ARITH_240).unreadable is None
    # A sync of that dispatch by name (a file of it changed) reads it whole.
    summary = _sync(index, server, dispatch_ids=[ARITH_240])
    assert summary.updated == 1
    assert "results.tobj" in (index.get(ARITH_240).unreadable or "")


def test_a_busy_database_leaves_the_cursor_where_it_was(index: DispatchIndex, server: Path) -> None:
    cursor = ServerCursor()
    _sync(index, server, cursor=cursor)
    high_water = cursor.high_water
    with covalent_mid_commit(server.parent / DB_NAME):
        summary = _sync(index, server, cursor=cursor, busy_wait=0.1)
        assert summary.busy == 1 and summary.errors == []
        assert cursor.high_water == high_water
    assert _sync(index, server, cursor=cursor).updated == 1
    assert index.get(ARITH_240).status == "CANCELLED"


def test_a_missing_database_resets_the_cursor(index: DispatchIndex, server: Path) -> None:
    cursor = ServerCursor()
    _sync(index, server, cursor=cursor)
    database = server.parent / DB_NAME
    database.unlink()
    summary = _sync(index, server, cursor=cursor)
    assert summary.errors and cursor.high_water is None
    _put_database(RUNNING_DB_240, database)
    _sync(index, server, cursor=cursor)
    assert cursor.full_syncs == 2
    assert index.get(SLEEPY_240).status == "RUNNING"


def test_an_incremental_sync_keeps_links_and_marks_deletions(
    index: DispatchIndex, server: Path
) -> None:
    cursor = ServerCursor()
    _sync(index, server, cursor=cursor)
    inner = index.get(INNER_240)
    assert (inner.parent_dispatch_id, inner.parent_node_id) == (OUTER_240, 0)
    assert inner.origin == "covalent-db" and inner.covalent_state == "active"
    # Deleted in Covalent's UI (its row written, so its updated_at moves).
    with sqlite3.connect(server.parent / DB_NAME) as conn:
        conn.execute(
            "UPDATE lattices SET is_active = 0, updated_at = '2026-12-01 00:00:00'"
            " WHERE dispatch_id IN (?, ?)",
            (INNER_240, ARITH_240),
        )
    summary = _sync(index, server, cursor=cursor)
    assert cursor.incremental_syncs == 1 and summary.updated == 2
    for dispatch_id in (INNER_240, ARITH_240):
        record = index.get(dispatch_id)
        assert record.covalent_state == "deleted" and record.status == "COMPLETED"
    assert index.get(INNER_240).parent_dispatch_id == OUTER_240


def test_a_server_without_asset_tables_is_synced_by_file_names(
    index: DispatchIndex, covalent_server: Path
) -> None:
    # Before the asset tables: each file at its row's storage_path + *_filename.
    data = covalent_server / "data"
    shutil.copyfile(data / ARITH_240 / "node_5" / "results.tobj", data / ARITH_240 / "results.tobj")
    with sqlite3.connect(covalent_server / DB_NAME) as conn:
        for table in ("lattice_assets", "electron_assets", "assets"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute(
            "UPDATE electrons SET storage_path = ("
            " SELECT l.storage_path FROM lattices l WHERE l.id = parent_lattice_id)"
            " || '/node_' || transport_graph_node_id"
        )
    index.add_dirs([data])
    summary = index.scan()
    assert summary.new == len(MANIFEST) and summary.errors == []
    assert index.get(ARITH_240).result == "6"
    assert index.get(FAILED_240).nodes[0].error == "RuntimeError: the task failed"
    assert index.scan().unchanged == len(MANIFEST)


def test_the_ui_document_is_built_from_the_server_when_asked(
    cli, index: DispatchIndex, server: Path
) -> None:
    """A server's dispatch has Covalent's UI document, read when asked for
    (a sync stores none: every asset of 100,000 dispatches is too much)."""
    index.scan()
    document = index.result_document(FAILED_240)
    assert document["status"] == "FAILED"
    fail = document["graph"]["nodes"][0]
    assert fail["error"] == "RuntimeError: the task failed"
    assert fail["stderr"].startswith("Traceback (most recent call last):")
    shown = cli("show", ARITH_240, "--document")
    assert '"result": "6"' in shown.output
    # Its server's database gone, there is nothing to build it from: said,
    # not a crash, and the record stays.
    (server.parent / "dispatcher_db.sqlite").unlink()
    missing = cli("show", ARITH_240, "--document", code=1)
    assert "no readable result" in missing.output
    assert index.get(ARITH_240).status == "COMPLETED"
