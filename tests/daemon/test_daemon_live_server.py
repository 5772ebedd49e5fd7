"""A real daemon following a Covalent 0.240 server live: writes made into
its database through SQLite itself (as Covalent's server makes them), the
database deleted and restored, held busy by a writer, and a task's log
landing in the data dir with no row changing. Polls are set an hour apart,
so that only inotify can bring what is seen."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from dispatch_indexer import DispatchIndex
from dispatch_indexer.cli import app

from ..daemon_helpers import DaemonProcess, get, wait_for
from ..fault_helpers import configure
from ..postgres_server import PASSWORD, load_into_postgres
from ..realdata import (
    ARITH_240,
    FAILED_240,
    RUNNING_DB_240,
    SERVER_DB_240,
    SLEEPY_240,
    covalent_mid_commit,
)

pytestmark = pytest.mark.sqlite_only

DB_NAME = "dispatcher_db.sqlite"
# Covalent's write to seen in the index: the target is 1 s; the bound here
# leaves room for a loaded test machine.
SEEN_WITHIN = 5.0


def _write_through_sqlite(source: Path, dest: Path) -> None:
    """Make ``dest`` hold ``source``'s rows, written by SQLite into the file
    in place (its rollback journal and all), as a server's commits are."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(dest)) as dst:
        src.backup(dst)


def _status(dispatch_id: str) -> str | None:
    record = get(dispatch_id)
    return record.status if record is not None else None


def _report() -> dict:
    return json.loads(CliRunner().invoke(app, ["status", "--json"]).output)


@pytest.fixture
def share(covalent_server: Path, home: Path) -> Path:
    with DispatchIndex() as index:
        index.add_dirs([covalent_server / "data"])
    configure(poll_interval=3600.0)
    return covalent_server


@pytest.fixture
def daemon(share: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess().start()
    yield process
    process.stop()


def test_running_then_final_through_sqlite(daemon: DaemonProcess, share: Path) -> None:
    database = share / DB_NAME
    assert _status(SLEEPY_240) == "COMPLETED"
    (root,) = _report()["roots"]
    assert root["mode"] == "native (Covalent database)"
    _write_through_sqlite(RUNNING_DB_240, database)
    t = time.monotonic()
    wait_for(lambda: _status(SLEEPY_240) == "RUNNING", SEEN_WITHIN, "RUNNING")
    running = time.monotonic() - t
    assert get(SLEEPY_240).end_time is None
    _write_through_sqlite(SERVER_DB_240, database)
    t = time.monotonic()
    wait_for(lambda: _status(SLEEPY_240) == "COMPLETED", SEEN_WITHIN, "COMPLETED again")
    final = time.monotonic() - t
    assert _status(ARITH_240) == "COMPLETED"
    assert _report()["degraded"] == []
    print(f"RUNNING seen in {running:.3f}s, COMPLETED in {final:.3f}s")


def test_a_row_updated_in_place_is_seen(daemon: DaemonProcess, share: Path) -> None:
    with closing(sqlite3.connect(share / DB_NAME)) as conn, conn:
        conn.execute(
            "UPDATE lattices SET status = 'CANCELLED', updated_at = '2026-12-01 00:00:00'"
            " WHERE dispatch_id = ?",
            (ARITH_240,),
        )
    wait_for(lambda: _status(ARITH_240) == "CANCELLED", SEEN_WITHIN, "the update")


def test_the_database_deleted_then_restored(daemon: DaemonProcess, share: Path) -> None:
    database = share / DB_NAME
    before = {i: _status(i) for i in (ARITH_240, SLEEPY_240, FAILED_240)}
    database.unlink()
    degraded = wait_for(lambda: _report()["degraded"], SEEN_WITHIN, "the database reported")
    assert [d["what"] for d in degraded] == ["covalent-db"]
    assert "no such database file" in degraded[0]["detail"]
    # Nothing indexed is lost or marked missing: history stays as it was.
    assert {i: _status(i) for i in before} == before
    assert not get(SLEEPY_240).missing
    _write_through_sqlite(RUNNING_DB_240, database)
    wait_for(lambda: _status(SLEEPY_240) == "RUNNING", SEEN_WITHIN, "synced again")
    wait_for(lambda: not _report()["degraded"], SEEN_WITHIN, "the problem cleared")


def test_a_busy_database_is_no_error(daemon: DaemonProcess, share: Path) -> None:
    with covalent_mid_commit(share / DB_NAME):
        held_until = time.monotonic() + 3.0
        while time.monotonic() < held_until:
            assert _report()["degraded"] == []
            assert _status(ARITH_240) == "COMPLETED"
            time.sleep(0.2)
    wait_for(lambda: _status(ARITH_240) == "CANCELLED", SEEN_WITHIN, "synced once released")
    assert _report()["degraded"] == []
    complaints = [
        line for line in daemon.log().splitlines() if " WARNING " in line or " ERROR " in line
    ]
    assert complaints == []


def test_a_task_log_alone_is_picked_up(share: Path) -> None:
    # The failed dispatch still RUNNING in the database (its task 0 failed
    # already), and its task's stderr.log not written yet.
    with closing(sqlite3.connect(share / DB_NAME)) as conn, conn:
        conn.execute("UPDATE lattices SET status = 'RUNNING' WHERE dispatch_id = ?", (FAILED_240,))
    log = share / "data" / FAILED_240 / "node_0" / "stderr.log"
    text = log.read_bytes()
    log.unlink()
    process = DaemonProcess().start()
    try:
        record = get(FAILED_240)
        assert record.status == "RUNNING"
        assert "the task failed" not in (record.nodes[0].error or "")
        # No row changes: only the log lands, written and closed.
        with open(log.with_suffix(".tmp"), "wb") as handle:
            handle.write(text)
        os.replace(log.with_suffix(".tmp"), log)
        wait_for(
            lambda: "RuntimeError: the task failed" in (get(FAILED_240).nodes[0].error or ""),
            SEEN_WITHIN,
            "the task's error from its log",
        )
    finally:
        process.stop()


def test_a_polled_server_is_synced_at_each_poll(covalent_server: Path, home: Path) -> None:
    # A network filesystem's root: no inotify, each poll an incremental sync.
    with DispatchIndex() as index:
        index.add_dirs([covalent_server / "data"], watch="polling")
    configure(poll_interval=0.2)
    process = DaemonProcess().start()
    try:
        (root,) = _report()["roots"]
        assert root["mode"] == "polling (Covalent database)"
        _write_through_sqlite(RUNNING_DB_240, covalent_server / DB_NAME)
        wait_for(lambda: _status(SLEEPY_240) == "RUNNING", SEEN_WITHIN, "the next poll")
    finally:
        process.stop()


def test_a_server_on_postgres_is_polled(
    covalent_server: Path, home: Path, postgres_url: str
) -> None:
    """A Covalent server whose database is PostgreSQL: no file to watch, so
    the daemon polls it (said in status) and each poll brings its writes."""
    load_into_postgres(SERVER_DB_240, postgres_url)
    with DispatchIndex() as index:
        index.add_dirs([covalent_server / "data"], covalent_db=postgres_url)
    configure(poll_interval=0.3)
    process = DaemonProcess().start()
    try:
        wait_for(lambda: _status(ARITH_240) == "COMPLETED", 10, "the first sync")
        (root,) = _report()["roots"]
        assert root["mode"] == "polling (Covalent database)"
        with psycopg.connect(postgres_url) as conn:
            conn.execute(
                "UPDATE lattices SET status = 'CANCELLED',"
                " updated_at = now() AT TIME ZONE 'UTC' WHERE dispatch_id = %s",
                (ARITH_240,),
            )
        wait_for(lambda: _status(ARITH_240) == "CANCELLED", SEEN_WITHIN, "the next poll")
        assert _report()["degraded"] == []
        assert PASSWORD not in process.log()
    finally:
        process.stop()
