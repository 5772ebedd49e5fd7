"""The CLI over an unreadable index database: exit code 4 and one line that
says so, never a traceback (``status`` still prints what it knows first).

Two kinds of unreadable, on real SQLite files: garbage where the database
file is (it cannot even be opened), and a damaged file that opens (its
schema and metadata pages are intact) but whose tables cannot be read, so
the failure comes in the middle of a command. The tests run as root, so
permissions cannot make a file unreadable.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.errors import DatabaseError, ExitCode
from dispatch_indexer.paths import resolve
from dispatch_indexer.store.engine import sqlite_path

from ..realdata import ROOT_NAMES

DATABASE = int(ExitCode.DATABASE)
# The tables every listing and count reads; their root pages are overwritten.
READ_TABLES = ("dispatch", "location", "dispatch_count")


def _database_file() -> Path:
    return sqlite_path(resolve().default_db_url)


def _make_garbage(file: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{file}{suffix}").unlink(missing_ok=True)
    file.write_bytes(os.urandom(64 * 1024))


def _damage_tables(file: Path) -> None:
    conn = sqlite3.connect(file)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        marks = ", ".join("?" for _ in READ_TABLES)
        pages = [
            row[0]
            for row in conn.execute(
                f"SELECT rootpage FROM sqlite_master WHERE name IN ({marks})", READ_TABLES
            )
        ]
    finally:
        conn.close()
    assert len(pages) == len(READ_TABLES)
    with file.open("r+b") as fh:
        for page in pages:
            fh.seek((page - 1) * page_size)
            fh.write(b"\xa5" * page_size)


@pytest.fixture(params=["garbage", "damaged"])
def unreadable(request: pytest.FixtureRequest, cli, corpus: Path) -> str:
    """An index of the fixtures whose database file is then made unreadable."""
    cli("add-dir", *[str(corpus / name) for name in ROOT_NAMES])
    cli("scan")
    file = _database_file()
    if request.param == "garbage":
        _make_garbage(file)
    else:
        _damage_tables(file)
    return request.param


def _one_error_line(result) -> str:
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("covalent-indexer: error: ")
    return lines[0]


def test_status_with_the_database_unreadable_exits_4(cli, unreadable: str) -> None:
    result = cli("status", code=DATABASE)
    line = _one_error_line(result)
    assert "index" in line
    # What status knows without the database is still printed.
    assert "not running" in result.stdout
    assert "degraded: cannot reach the index database" in result.stdout


def test_status_json_with_the_database_unreadable_exits_4(cli, unreadable: str) -> None:
    result = cli("status", "--json", code=DATABASE)
    _one_error_line(result)
    report = json.loads(result.stdout)
    assert report["running"] is False
    assert report["database"]["error"]
    assert [d["what"] for d in report["degraded"]] == ["database"]
    assert all(root["records"] is None for root in report["roots"])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_with_the_database_unreadable_exits_4(cli, unreadable: str, fmt: str) -> None:
    result = cli("export", "--format", fmt, code=DATABASE)
    line = _one_error_line(result)
    assert "index" in line


def test_iterate_turns_a_failure_mid_iteration_into_database_error(cli, corpus: Path) -> None:
    cli("add-dir", *[str(corpus / name) for name in ROOT_NAMES])
    cli("scan")
    _damage_tables(_database_file())
    with DispatchIndex() as index:  # opens: the schema is intact
        records = index.iterate()
        with pytest.raises(DatabaseError, match="malformed"):
            next(records)
        with pytest.raises(DatabaseError):
            index.counts()
