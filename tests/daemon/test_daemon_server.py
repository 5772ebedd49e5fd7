"""A real daemon keeping a Covalent 0.240 server's data dir current: each
poll syncs it from the dispatcher database."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatch_indexer import DispatchIndex
from dispatch_indexer.cli import app

from ..daemon_helpers import DaemonProcess, get, wait_for
from ..fault_helpers import configure
from ..realdata import ARITH_240, RUNNING_DB_240, SERVER_DB_240, SLEEPY_240

DB_NAME = "dispatcher_db.sqlite"


def _put_database(source: Path, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, dest)


def _status(dispatch_id: str) -> str | None:
    record = get(dispatch_id)
    return record.status if record is not None else None


@pytest.fixture
def daemon(covalent_server: Path, home: Path, watch: str) -> Iterator[DaemonProcess]:
    with DispatchIndex() as index:
        index.add_dirs([covalent_server / "data"], watch=watch)
    configure(poll_interval=0.2)
    process = DaemonProcess().start()
    yield process
    process.stop()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("watch", ["auto", "observer"])
def test_the_daemon_follows_the_database(
    daemon: DaemonProcess, covalent_server: Path, watch: str
) -> None:
    wait_for(lambda: _status(SLEEPY_240) == "COMPLETED", 10, "the first sync")
    assert _status(ARITH_240) == "COMPLETED"
    database = covalent_server / DB_NAME
    _put_database(RUNNING_DB_240, database)
    wait_for(lambda: _status(SLEEPY_240) == "RUNNING", 10, "the running copy")
    _put_database(SERVER_DB_240, database)
    wait_for(lambda: _status(SLEEPY_240) == "COMPLETED", 10, "the final copy again")
    report = json.loads(CliRunner().invoke(app, ["status", "--json"]).output)
    (root,) = report["roots"]
    backend = "native" if watch == "auto" else watch
    assert root["mode"] == f"{backend} (Covalent database)"
    assert root["kind"] == "covalent-data"
    # A deleted database loses nothing; a removed folder is missing.
    database.unlink()
    shutil.rmtree(covalent_server / "data" / ARITH_240)
    wait_for(lambda: get(ARITH_240).missing, 10, "the folder gone")
    assert _status(SLEEPY_240) == "COMPLETED" and not get(SLEEPY_240).missing
    assert _status(ARITH_240) == "COMPLETED"
    degraded = wait_for(_degraded, 10, "the database reported")
    assert [d["what"] for d in degraded] == ["covalent-db"]
    assert "no such database file" in degraded[0]["detail"]
    _put_database(SERVER_DB_240, database)
    wait_for(lambda: not _degraded(), 10, "the database back")


def _degraded() -> list[dict]:
    return json.loads(CliRunner().invoke(app, ["status", "--json"]).output)["degraded"]
