"""A Covalent server on PostgreSQL: the 0.240 fixture's rows loaded into a
real PostgreSQL database read the same as its SQLite file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.errors import BadInputError, CovalentDbError
from dispatch_indexer.read.covalent_db import CovalentDb
from dispatch_indexer.read.modern import ServerDispatch, dispatches_from_snapshot
from dispatch_indexer.scan.covalent_pg import CovalentPg, is_database_url, open_covalent_db, redact
from dispatch_indexer.scan.server import ServerCursor

from ..postgres_server import PASSWORD, PostgresServer, load_into_postgres
from ..realdata import ARITH_240, FIXTURES_240, REVISION_240, SERVER_DB_240

UTC = dt.timezone.utc
FAILED = "564c6446-c6b4-4127-8be8-ac0da370b620"


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    load_into_postgres(SERVER_DB_240, postgres_url)
    return postgres_url


def comparable(dispatch: ServerDispatch) -> dict[str, Any]:
    return {
        "record": dataclasses.asdict(dispatch.record),
        "parent": (dispatch.parent_dispatch_id, dispatch.parent_node_id),
        "subs": dispatch.sub_dispatches,
        "result": dispatch.result_path,
        "node_assets": dispatch.node_assets,
    }


def by_id(dispatches: list[ServerDispatch]) -> dict[str, dict[str, Any]]:
    return {d.record.dispatch_id: comparable(d) for d in dispatches}


def test_same_records_as_the_sqlite_file(pg_url: str, covalent_server: Path) -> None:
    data_dir = covalent_server / "data"
    from_pg = dispatches_from_snapshot(CovalentPg(pg_url).snapshot(), data_dir)
    from_sqlite = dispatches_from_snapshot(CovalentDb(SERVER_DB_240).snapshot(), data_dir)
    assert len(from_pg) == 11
    assert by_id(from_pg) == by_id(from_sqlite)


def test_records_match_what_covalent_reported(pg_url: str, covalent_server: Path) -> None:
    manifest = json.loads((FIXTURES_240 / "manifest.json").read_text())
    found = {
        d.record.dispatch_id: d
        for d in dispatches_from_snapshot(CovalentPg(pg_url).snapshot(), covalent_server / "data")
    }
    assert set(found) == {entry["dispatch_id"] for entry in manifest}
    for entry in manifest:
        dispatch = found[entry["dispatch_id"]]
        record = dispatch.record
        assert record.status == entry["status"]
        assert record.lattice_name == entry["lattice_name"]
        assert record.num_nodes == entry["num_nodes"]
        start = dt.datetime.fromisoformat(entry["start_time"]).replace(tzinfo=UTC)
        assert record.start_time == start
        if entry.get("sublattice"):
            assert dispatch.parent_dispatch_id is not None
    failed = found[FAILED].record
    assert failed.status == "FAILED"
    assert failed.error and "RuntimeError: the task failed" in failed.error


def test_schema_and_ids(pg_url: str) -> None:
    database = CovalentPg(pg_url)
    schema = database.schema()
    assert schema.revision == REVISION_240
    assert schema.columns == CovalentDb(SERVER_DB_240).schema().columns
    assert sorted(database.dispatch_ids()) == sorted(CovalentDb(SERVER_DB_240).dispatch_ids())


def test_since_reads_only_what_changed(pg_url: str, covalent_server: Path) -> None:
    database = CovalentPg(pg_url)
    first = database.snapshot()
    assert first.high_water is not None
    later = first.high_water + dt.timedelta(minutes=5)
    # A task's write alone marks its dispatch changed, as with SQLite.
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "UPDATE electrons SET updated_at = %s WHERE parent_lattice_id ="
            " (SELECT id FROM lattices WHERE dispatch_id = %s)",
            (later.replace(tzinfo=None), FAILED),
        )
    changed = database.snapshot(since=later)
    assert [row.dispatch_id for row in changed.lattices] == [FAILED]
    assert changed.high_water == later
    assert {e.dispatch_id for e in changed.electrons} == {FAILED}
    assert database.snapshot(since=later + dt.timedelta(seconds=2)).lattices == []
    named = database.snapshot(dispatch_ids=[FAILED, "not-a-dispatch"])
    assert [row.dispatch_id for row in named.lattices] == [FAILED]
    records = dispatches_from_snapshot(changed, covalent_server / "data")
    assert [d.record.status for d in records] == ["FAILED"]


def test_the_transaction_is_read_only(pg_url: str) -> None:
    database = CovalentPg(pg_url)
    with pytest.raises(CovalentDbError, match="read-only transaction"):
        with database._transaction() as conn:
            conn.execute("UPDATE lattices SET name = ?", ("changed",))
    assert "changed" not in {row.name for row in database.snapshot().lattices}


def test_bad_password_is_one_line_without_it(postgres_server: PostgresServer, pg_url: str) -> None:
    wrong = pg_url.replace(PASSWORD, "not-the-password")
    with pytest.raises(CovalentDbError) as caught:
        CovalentPg(wrong).snapshot()
    message = str(caught.value)
    assert "\n" not in message
    assert "not-the-password" not in message and PASSWORD not in message
    assert "cannot connect" in message and "***" in message


def test_unreachable_server(postgres_server: PostgresServer) -> None:
    # A port nothing listens on (the server's own, plus one, is free in practice).
    url = f"postgresql://indexer:{PASSWORD}@127.0.0.1:1/covalent"
    with pytest.raises(CovalentDbError) as caught:
        CovalentPg(url).dispatch_ids()
    message = str(caught.value)
    assert "\n" not in message and PASSWORD not in message
    assert message.startswith("postgresql://indexer:***@127.0.0.1:1/covalent: cannot connect")


def test_a_database_that_is_not_covalents(postgres_url: str) -> None:
    with pytest.raises(CovalentDbError, match="no lattices table"):
        CovalentPg(postgres_url).snapshot()


def test_sqlalchemy_url_and_factory(pg_url: str) -> None:
    driver_url = pg_url.replace("postgresql://", "postgresql+psycopg2://")
    assert is_database_url(driver_url) and is_database_url(pg_url)
    opened = open_covalent_db(driver_url)
    assert isinstance(opened, CovalentPg)
    assert len(opened.dispatch_ids()) == 11
    assert isinstance(open_covalent_db(str(SERVER_DB_240)), CovalentDb)
    assert not is_database_url(str(SERVER_DB_240))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql+psycopg2://u:s%40x@h/db", "postgresql+psycopg2://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql:///db?host=/run/pg", "postgresql:///db?host=/run/pg"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_server_on_postgres_is_registered_synced_and_followed(
    pg_url: str, covalent_server: Path, index: DispatchIndex
) -> None:
    """``add-dir DATA --covalent-db postgresql://...`` end to end: every
    dispatch as Covalent reported it, then a write on the server read by an
    incremental sync (no file to watch: the cursor's high water alone)."""
    (added,) = index.add_dirs([covalent_server / "data"], covalent_db=pg_url)
    root = index.config.root(added)
    assert root is not None and root.kind == "covalent-data" and root.covalent_db == pg_url
    assert PASSWORD not in root.describe()
    summary = index.scan()
    assert summary.errors == [] and summary.new == 11
    manifest = json.loads((FIXTURES_240 / "manifest.json").read_text())
    for entry in manifest:
        record = index.get(entry["dispatch_id"])
        assert (record.status, record.lattice_name, record.num_nodes) == (
            entry["status"],
            entry["lattice_name"],
            entry["num_nodes"],
        )
        assert record.origin == "covalent-db"

    writer = index.writer()
    cursor = ServerCursor()
    assert writer.sync_server(root, cursor=cursor).unchanged == 11
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "UPDATE lattices SET status = 'CANCELLED', updated_at = now() AT TIME ZONE 'UTC'"
            " WHERE dispatch_id = %s",
            (ARITH_240,),
        )
    again = writer.sync_server(root, cursor=cursor)
    # Only what changed (and what shares its slack window) is read again.
    assert cursor.incremental_syncs == 1 and again.updated == 1 and again.unchanged < 11
    assert index.get(ARITH_240).status == "CANCELLED"


def test_an_unreachable_postgres_server_is_refused_in_one_line(
    postgres_server: PostgresServer, covalent_server: Path, index: DispatchIndex
) -> None:
    url = f"postgresql://indexer:{PASSWORD}@127.0.0.1:1/covalent"
    with pytest.raises(BadInputError) as caught:
        index.add_dirs([covalent_server / "data"], covalent_db=url)
    message = str(caught.value)
    assert "\n" not in message and PASSWORD not in message and "cannot connect" in message
    assert index.config.roots == []
