"""Covalent 0.110's own UI reads the index: documents stored, the SQLite
``dispatches`` view, hiding, and the schema migration that adds them."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.errors import NotFoundError
from dispatch_indexer.store.engine import sqlite_path
from dispatch_indexer.store.migrations import LATEST

from ..realdata import ARITH, FAILED, SLEEPY
from .downgrade import undo_step_9, undo_step_12


class DispatchDB:
    """Covalent 0.110's ``covalent_dispatcher._db.dispatchdb.DispatchDB``, its
    SQL statement for statement (upsert takes the JSON text that
    ``encode_result`` would have made)."""

    def __init__(self, dbpath: str) -> None:
        self.conn = sqlite3.connect(dbpath)
        try:
            self.conn.execute(
                "CREATE TABLE dispatches \
                (dispatch_id text primary key, \
                result_dict text)"
            )
            self.conn.commit()
        except sqlite3.OperationalError:
            pass

    def __enter__(self) -> DispatchDB:
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> bool:
        if exc_type:
            self.conn.rollback()
        else:
            self.conn.commit()
        self.conn.close()
        return False

    def get(self, dispatch_ids: list[str] | None = None) -> list[tuple[str, str]]:
        dispatch_ids = dispatch_ids or []
        if len(dispatch_ids) > 0:
            placeholders = "({})".format(", ".join(["?" for i in dispatch_ids]))
            sql = (
                "SELECT * FROM dispatches WHERE \
            dispatch_id in "
                + placeholders
            )
            return self.conn.execute(sql, dispatch_ids).fetchall()
        return self.conn.execute("SELECT * FROM dispatches").fetchall()

    def upsert(self, dispatch_id: str, jsonified_result: str) -> None:
        try:
            sql = "INSERT INTO dispatches (dispatch_id, result_dict) VALUES (?, ?)"
            self.conn.execute(sql, (dispatch_id, jsonified_result))
            self.conn.commit()
        except sqlite3.IntegrityError:
            sql = "UPDATE dispatches SET result_dict = ? WHERE dispatch_id = ?"
            self.conn.execute(sql, (jsonified_result, dispatch_id))
            self.conn.commit()

    def delete(self, dispatch_ids: list[str]) -> None:
        placeholders = "({})".format(", ".join(["?" for i in dispatch_ids]))
        sql = "DELETE FROM dispatches WHERE dispatch_id in " + placeholders
        self.conn.execute(sql, dispatch_ids)
        self.conn.commit()


def _dbpath(index: DispatchIndex) -> str:
    return str(sqlite_path(index.url))


def _shown(index: DispatchIndex) -> dict[str, dict[str, Any]]:
    """What Covalent's UI lists: GET /api/results."""
    with DispatchDB(_dbpath(index)) as db:
        return {dispatch_id: json.loads(text) for dispatch_id, text in db.get()}


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _hidden(index: DispatchIndex, dispatch_id: str) -> bool:
    D = index._tables.Dispatch
    return bool(D.select(D.hidden).where(D.dispatch_id == dispatch_id).scalar())


@pytest.mark.sqlite_only
def test_covalents_ui_lists_every_indexed_dispatch(indexed: DispatchIndex, manifest) -> None:
    shown = _shown(indexed)
    assert set(shown) == {m["dispatch_id"] for m in manifest}
    for dispatch_id, document in shown.items():
        assert document == indexed.result_document(dispatch_id)
        assert document["dispatch_id"] == dispatch_id
    # GET /api/results/<id>: one row, its JSON text.
    with DispatchDB(_dbpath(indexed)) as db:
        rows = db.get([ARITH])
    assert [row[0] for row in rows] == [ARITH]
    assert json.loads(rows[0][1])["result"] == 6


@pytest.mark.sqlite_only
def test_the_constructors_create_table_leaves_the_view_alone(indexed: DispatchIndex) -> None:
    path = _dbpath(indexed)
    before = _shown(indexed)
    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            conn.execute("CREATE TABLE dispatches (dispatch_id text primary key, result_dict text)")
        # The IF NOT EXISTS form (later Covalent versions) is a no-op.
        conn.execute(
            "CREATE TABLE IF NOT EXISTS dispatches (dispatch_id text primary key, result_dict text)"
        )
        kind = conn.execute("SELECT type FROM sqlite_master WHERE name = 'dispatches'").fetchall()
    assert kind == [("view",)]
    assert _shown(indexed) == before


@pytest.mark.sqlite_only
def test_deleting_in_covalents_ui_hides_and_keeps_everything(
    indexed: DispatchIndex, corpus: Path
) -> None:
    files = _files(corpus)
    raw = indexed.result_bytes(ARITH)
    with DispatchDB(_dbpath(indexed)) as db:
        db.delete([ARITH, FAILED, "not-indexed"])
    assert ARITH not in _shown(indexed) and FAILED not in _shown(indexed)
    assert _hidden(indexed, ARITH) and _hidden(indexed, FAILED)
    # Nothing deleted: the record, its document and bytes, and every file.
    assert indexed.get(ARITH).status == "COMPLETED"
    assert indexed.result_document(ARITH)["result"] == 6
    assert indexed.result_bytes(ARITH) == raw
    assert _files(corpus) == files
    # A rescan, even of a rewritten file, keeps the dispatch hidden.
    pkl = corpus / "results" / ARITH / "result.pkl"
    os.utime(pkl, (pkl.stat().st_atime, pkl.stat().st_mtime + 5))
    assert indexed.scan().updated >= 1
    assert _hidden(indexed, ARITH) and ARITH not in _shown(indexed)


@pytest.mark.sqlite_only
def test_hide_from_the_library(indexed: DispatchIndex) -> None:
    assert indexed.hide([ARITH, FAILED, ARITH, "not-indexed"]) == 2
    assert indexed.hide([ARITH]) == 0  # already hidden
    assert indexed.hide([]) == 0
    assert ARITH not in _shown(indexed) and FAILED not in _shown(indexed)
    assert indexed.get(ARITH).lattice_name == "arith"


@pytest.mark.sqlite_only
def test_covalents_upsert_shows_again_and_writes_nothing_else(indexed: DispatchIndex) -> None:
    document = indexed.result_document(ARITH)
    indexed.hide([ARITH])
    with DispatchDB(_dbpath(indexed)) as db:
        db.upsert(ARITH, json.dumps({"dispatch_id": ARITH, "status": "FAILED"}))
        db.upsert("not-indexed", "{}")
        # UPDATE through the view (upsert's fallback) is ignored too.
        db.conn.execute(
            "UPDATE dispatches SET result_dict = ? WHERE dispatch_id = ?", ("{}", ARITH)
        )
    shown = _shown(indexed)
    assert shown[ARITH] == document  # shown again, with the index's document
    assert "not-indexed" not in shown
    assert indexed.result_document(ARITH) == document


@pytest.mark.sqlite_only
def test_result_document_of_unknown_or_unreadable_dispatches(
    indexed: DispatchIndex, corpus: Path
) -> None:
    with pytest.raises(NotFoundError):
        indexed.result_document("no-such-dispatch")
    bad = corpus / "results" / "bad-one"
    bad.mkdir()
    (bad / "result.pkl").write_bytes(b"not a pickle")
    old = (bad / "result.pkl").stat().st_mtime - 3600
    os.utime(bad / "result.pkl", (old, old))
    indexed.scan()
    assert indexed.get("bad-one").unreadable is not None
    with pytest.raises(NotFoundError):
        indexed.result_document("bad-one")
    assert "bad-one" not in _shown(indexed)


@pytest.mark.sqlite_only
def test_a_broken_rewrite_keeps_the_good_document(indexed: DispatchIndex, corpus: Path) -> None:
    document = indexed.result_document(ARITH)
    pkl = corpus / "results" / ARITH / "result.pkl"
    good = pkl.read_bytes()
    pkl.write_bytes(good[: len(good) // 2])
    old = pkl.stat().st_mtime - 3600
    os.utime(pkl, (old, old))  # long settled: it stays broken
    assert indexed.scan().unreadable == 1
    assert indexed.get(ARITH).unreadable == "result.pkl is truncated"
    assert indexed.result_document(ARITH) == document
    assert _shown(indexed)[ARITH] == document


@pytest.mark.engines
def test_the_newest_copy_gives_the_document(index: DispatchIndex, corpus: Path) -> None:
    index.add_dirs([corpus / "snapshots"])
    index.scan()
    assert index.result_document(SLEEPY)["status"] == "RUNNING"
    index.add_dirs([corpus / "results"])
    index.scan()
    assert index.result_document(SLEEPY)["status"] == "COMPLETED"


# ---- the migration --------------------------------------------------------


def _schema(path: str) -> dict[str, Any]:
    with sqlite3.connect(path) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            "columns": {t: conn.execute(f'PRAGMA table_info("{t}")').fetchall() for t in tables},
            "indexes": sorted(
                conn.execute(
                    "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'"
                ).fetchall(),
                key=lambda row: row[0],
            ),
            "others": sorted(
                conn.execute(
                    "SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger')"
                ).fetchall()
            ),
        }


# Version 1's root and location tables, keyed by path alone (step 3 keyed
# them by host and path).
_V1_TABLES = {
    "root": (
        '"path" VARCHAR(4096) NOT NULL PRIMARY KEY, "watch" VARCHAR(16) NOT NULL, '
        '"added_at" DATETIME NOT NULL',
        ("path", "watch", "added_at"),
        (),
    ),
    "location": (
        '"path" VARCHAR(4096) NOT NULL PRIMARY KEY, "dispatch_id" VARCHAR(255) NOT NULL, '
        '"root" TEXT, "size" INTEGER NOT NULL, "mtime_ns" INTEGER NOT NULL, '
        '"inode" INTEGER NOT NULL, "last_event" DATETIME, "unreadable" TEXT, '
        '"seen_at" DATETIME NOT NULL',
        (
            "path",
            "dispatch_id",
            "root",
            "size",
            "mtime_ns",
            "inode",
            "last_event",
            "unreadable",
            "seen_at",
        ),
        ("dispatch_id", "root"),
    ),
}


def _downgrade_to_v2(conn: sqlite3.Connection) -> None:
    """Undo steps 12 to 5 (11 by 9) and 3: no stored bytes encoding; no
    change feed index nor
    notification table; no search, sorts, tags or sizes; no origins, no index
    of sub-workflows; no listing index; no count table and its triggers; no
    host column, roots and locations keyed by path."""
    undo_step_12(conn.execute)
    conn.execute("DROP INDEX dispatch_changed")
    conn.execute("DROP TABLE notification_sent")
    undo_step_9(conn.execute, postgres=False)
    conn.execute("DROP INDEX dispatch_parent_dispatch_id")
    conn.execute("ALTER TABLE location DROP COLUMN origin")
    for column in ("origin", "parent_dispatch_id", "parent_node_id", "covalent_state"):
        conn.execute(f"ALTER TABLE dispatch DROP COLUMN {column}")
    conn.execute("DROP INDEX dispatch_listing")
    for event in ("insert", "update", "delete"):
        conn.execute(f"DROP TRIGGER dispatch_count_{event}")
    conn.execute("DROP TABLE dispatch_count")
    conn.execute("DROP INDEX dispatch_host_root")
    conn.execute("ALTER TABLE dispatch DROP COLUMN host")
    for table, (columns_sql, columns, indexes) in _V1_TABLES.items():
        names = ", ".join(columns)
        conn.execute(f"CREATE TABLE old_{table} AS SELECT {names} FROM {table}")
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f'CREATE TABLE "{table}" ({columns_sql})')
        for column in indexes:
            conn.execute(f'CREATE INDEX "{table}_{column}" ON "{table}" ("{column}")')
        conn.execute(f"INSERT INTO {table} SELECT {names} FROM old_{table}")
        conn.execute(f"DROP TABLE old_{table}")
    conn.execute("UPDATE index_meta SET value = '2' WHERE key = 'schema_version'")


def _downgrade_to_v1(path: str) -> None:
    """Make a current index what version 1 wrote: no view, triggers, columns."""
    with sqlite3.connect(path) as conn:
        _downgrade_to_v2(conn)
        for trigger in ("dispatches_delete", "dispatches_insert", "dispatches_update"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP VIEW dispatches")
        conn.execute("DROP INDEX IF EXISTS dispatch_hidden")  # before step 4 dropped it
        conn.execute("ALTER TABLE dispatch DROP COLUMN hidden")
        conn.execute("ALTER TABLE dispatch DROP COLUMN document")
        conn.execute("UPDATE index_meta SET value = '1' WHERE key = 'schema_version'")


@pytest.mark.sqlite_only
@pytest.mark.skipif(sqlite3.sqlite_version_info < (3, 35), reason="needs DROP COLUMN")
def test_an_upgraded_index_equals_a_new_one_and_gets_its_documents(
    indexed: DispatchIndex, manifest
) -> None:
    fresh = _schema(_dbpath(indexed))
    path = _dbpath(indexed)
    indexed.close()
    _downgrade_to_v1(path)
    with DispatchIndex() as upgraded:
        assert _schema(path) == fresh
        version = upgraded._tables.MetaEntry.get_by_id("schema_version").value
        assert version == str(LATEST)
        # Nothing hidden; no document until result.pkl is read again, which
        # the next scan does for every copy.
        assert _shown(upgraded) == {}
        summary = upgraded.scan()
        assert summary.unchanged == 0 and summary.unreadable == 0
        assert summary.updated == len({m["dispatch_id"] for m in manifest})
        assert set(_shown(upgraded)) == {m["dispatch_id"] for m in manifest}


@pytest.mark.sqlite_only
def test_a_new_index_has_the_view_on_sqlite(index: DispatchIndex) -> None:
    schema = _schema(_dbpath(index))
    assert ("view", "dispatches") in schema["others"]
    columns = {row[1]: row for row in schema["columns"]["dispatch"]}
    # cid, name, type, notnull, default, pk
    assert columns["hidden"][2:5] == ("INTEGER", 1, "FALSE")
    assert columns["document"][2:4] == ("TEXT", 0)


@pytest.mark.sqlite_only
def test_processes_opening_a_new_index_at_once_all_succeed(home: Path) -> None:
    # Each runs every migration step; a step that adds columns must not be
    # applied twice (the daemon and a CLI command often start together).
    code = "from dispatch_indexer import DispatchIndex\nDispatchIndex().close()\n"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(6)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    with DispatchIndex() as index:
        assert ("view", "dispatches") in _schema(_dbpath(index))["others"]
