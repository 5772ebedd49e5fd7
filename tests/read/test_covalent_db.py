"""Covalent's dispatcher database, read-only, whatever its schema revision."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from dispatch_indexer.errors import IndexerError
from dispatch_indexer.read.covalent_db import CovalentDb, CovalentDbBusyError, CovalentDbError
from dispatch_indexer.read.dbrows import parse_time

from ..realdata import (
    ARITH_240,
    FAILED_240,
    INNER_240,
    OUTER_240,
    REVISION_240,
    RUNNING_DB_240,
    SERVER_DB_240,
    SLEEPY_240,
)

UTC = dt.timezone.utc


@pytest.fixture
def db_copy(tmp_path: Path) -> Path:
    path = tmp_path / "dispatcher_db.sqlite"
    shutil.copyfile(SERVER_DB_240, path)
    return path


def test_the_fixture_database() -> None:
    before = SERVER_DB_240.stat().st_mtime_ns
    snapshot = CovalentDb(SERVER_DB_240).snapshot()
    assert snapshot.schema.revision == REVISION_240
    assert snapshot.schema.has("lattices", "root_dispatch_id")
    assert len(snapshot.lattices) == 11
    assert len(snapshot.electrons) == sum(row.electron_num or 0 for row in snapshot.lattices)
    assert snapshot.edges and snapshot.assets
    assert snapshot.high_water == dt.datetime(2026, 11, 30, 9, 47, 4, tzinfo=UTC)
    # Read-only: the file is untouched and no journal was left beside it.
    assert SERVER_DB_240.stat().st_mtime_ns == before
    assert not SERVER_DB_240.with_name(SERVER_DB_240.name + "-journal").exists()


def test_rows_as_plain_data() -> None:
    snapshot = CovalentDb(SERVER_DB_240).snapshot()
    arith = next(row for row in snapshot.lattices if row.dispatch_id == ARITH_240)
    assert arith.name == "arith"
    assert arith.status == "COMPLETED"
    assert (arith.electron_num, arith.completed_electron_num) == (6, 6)
    # Stored naive; Covalent's API reported these same wall times, in UTC.
    assert arith.started_at == dt.datetime(2026, 11, 30, 9, 46, 52, 893841, tzinfo=UTC)
    assert arith.completed_at == dt.datetime(2026, 11, 30, 9, 46, 54, 471419, tzinfo=UTC)
    assert arith.is_active is True
    assert arith.storage_path == f"/home/covalent/.local/share/covalent/data/{ARITH_240}"
    tasks = [e for e in snapshot.electrons if e.dispatch_id == FAILED_240]
    fail = next(e for e in tasks if e.node_id == 0)
    assert (fail.name, fail.status, fail.type) == ("fail", "FAILED", "function")
    assert fail.filenames["stderr"] == "stderr.log"
    result = next(
        a
        for a in snapshot.assets
        if a.dispatch_id == ARITH_240 and a.node_id is None and a.key == "result"
    )
    assert result.object_key == f"{ARITH_240}/node_5/results.tobj"
    edges = {(e.parent_node, e.child_node, e.edge_name) for e in snapshot.edges}
    assert edges


def test_a_sub_workflow_names_its_parent() -> None:
    snapshot = CovalentDb(SERVER_DB_240).snapshot()
    inner = next(row for row in snapshot.lattices if row.dispatch_id == INNER_240)
    assert inner.electron_id is not None
    assert (inner.parent_dispatch_id, inner.parent_node_id) == (OUTER_240, 0)


def test_rows_changed_since() -> None:
    db = CovalentDb(SERVER_DB_240)
    later = db.snapshot(since=dt.datetime(2026, 11, 30, 9, 46, 57, tzinfo=UTC))
    names = sorted(row.name or "" for row in later.lattices)
    assert names == ["custom", "inner", "loud", "outer", "sleepy", "sleepy"]
    assert {e.dispatch_id for e in later.electrons} <= {r.dispatch_id for r in later.lattices}
    assert db.snapshot(since=later.high_water + dt.timedelta(seconds=1)).lattices == []
    # Inclusive: a row of the high-water second itself is read again.
    assert [r.dispatch_id for r in db.snapshot(since=later.high_water).lattices] == [SLEEPY_240]


def test_a_task_written_alone_marks_its_dispatch_changed(db_copy: Path) -> None:
    with sqlite3.connect(db_copy) as conn:
        conn.execute(
            "UPDATE electrons SET updated_at = '2030-01-01 00:00:00'"
            " WHERE parent_lattice_id = (SELECT id FROM lattices WHERE dispatch_id = ?)",
            (FAILED_240,),
        )
    changed = CovalentDb(db_copy).snapshot(since=dt.datetime(2029, 1, 1, tzinfo=UTC))
    assert [row.dispatch_id for row in changed.lattices] == [FAILED_240]


def test_the_running_copy() -> None:
    statuses = {r.name: r.status for r in CovalentDb(RUNNING_DB_240).snapshot().lattices}
    assert statuses["sleepy"] == "RUNNING"
    assert statuses["arith"] == "COMPLETED"
    assert list(statuses.values()).count("RUNNING") >= 3


def test_a_dropped_and_an_added_column(db_copy: Path) -> None:
    with sqlite3.connect(db_copy) as conn:
        conn.execute("ALTER TABLE lattices DROP COLUMN root_dispatch_id")
        conn.execute("ALTER TABLE lattices DROP COLUMN completed_electron_num")
        conn.execute("ALTER TABLE electrons DROP COLUMN started_at")
        conn.execute("ALTER TABLE lattices ADD COLUMN from_the_future TEXT DEFAULT 'x'")
        conn.execute("ALTER TABLE electrons ADD COLUMN report_filename TEXT DEFAULT 'r.txt'")
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    snapshot = CovalentDb(db_copy).snapshot()
    assert snapshot.schema.revision == "ffffffffffff"
    assert len(snapshot.lattices) == 11
    arith = next(row for row in snapshot.lattices if row.dispatch_id == ARITH_240)
    assert arith.root_dispatch_id is None and arith.completed_electron_num is None
    assert arith.status == "COMPLETED" and arith.electron_num == 6
    assert all(e.started_at is None for e in snapshot.electrons)
    assert all(e.filenames["report"] == "r.txt" for e in snapshot.electrons)


def test_a_schema_before_the_asset_tables(db_copy: Path) -> None:
    with sqlite3.connect(db_copy) as conn:
        for table in ("lattice_assets", "electron_assets", "assets", "alembic_version"):
            conn.execute(f"DROP TABLE {table}")
    snapshot = CovalentDb(db_copy).snapshot()
    assert snapshot.schema.revision is None
    assert snapshot.assets == []
    assert len(snapshot.lattices) == 11


def test_not_a_covalent_database(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(CovalentDbError, match="no lattices table"):
        CovalentDb(other).snapshot()
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(CovalentDbError, match="cannot be read") as caught:
        CovalentDb(garbage).snapshot()
    assert not isinstance(caught.value, CovalentDbBusyError)
    with pytest.raises(CovalentDbError, match="no such database file"):
        CovalentDb(tmp_path / "absent.sqlite").snapshot()
    assert isinstance(caught.value, IndexerError)


def test_a_database_held_busy_is_busy_not_damaged(db_copy: Path) -> None:
    writer = sqlite3.connect(db_copy, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(CovalentDbBusyError, match="busy"):
            CovalentDb(db_copy, busy_timeout=0.05, busy_wait=0.3).snapshot()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert len(CovalentDb(db_copy).snapshot().lattices) == 11


def test_a_short_lock_is_waited_out(db_copy: Path) -> None:
    writer = sqlite3.connect(db_copy, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    release.start()
    try:
        snapshot = CovalentDb(db_copy, busy_timeout=0.05, busy_wait=5.0).snapshot()
    finally:
        release.join()
        writer.close()
    assert len(snapshot.lattices) == 11


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30 09:46:52.893841", dt.datetime(2026, 11, 30, 9, 46, 52, 893841, tzinfo=UTC)),
        ("2026-11-30 09:46:52", dt.datetime(2026, 11, 30, 9, 46, 52, tzinfo=UTC)),
        ("2026-11-30T10:46:52+01:00", dt.datetime(2026, 11, 30, 9, 46, 52, tzinfo=UTC)),
        ("2026-11-30T09:46:52Z", dt.datetime(2026, 11, 30, 9, 46, 52, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
        (12, None),
    ],
)
def test_times(text: object, expected: dt.datetime | None) -> None:
    assert parse_time(text) == expected


def test_named_dispatches_and_the_full_list() -> None:
    db = CovalentDb(SERVER_DB_240)
    assert len(db.dispatch_ids()) == 11
    named = db.snapshot(dispatch_ids=[FAILED_240, "no-such-id"])
    assert [row.dispatch_id for row in named.lattices] == [FAILED_240]
    assert {e.node_id for e in named.electrons} == {0, 1, 2}
    since = dt.datetime(2026, 11, 30, 9, 46, 57, tzinfo=UTC)
    assert (
        db.snapshot(since=since, dispatch_ids=[FAILED_240, INNER_240]).lattices[0].name == "inner"
    )
