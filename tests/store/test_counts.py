"""Counts by status and by host, kept by triggers in the ``dispatch_count``
table (``counters``): after every kind of write they equal a count of the
records themselves, on both engines, folded or not."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import peewee as pw
import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.store import engine as db_mod
from dispatch_indexer.store.migrations import LATEST
from dispatch_indexer.store.query import ListQuery

from ..realdata import ARITH, FAILED, SLEEPY
from ..store.test_covalent_ui_compat import DispatchDB, _dbpath
from .downgrade import undo_step_9, undo_step_12

# Run on both engines (see conftest); tests that open the SQLite file stay on it.
pytestmark = pytest.mark.engines

FLAGS = [(m, h) for m in (True, False) for h in (True, False)]


def truth(index: DispatchIndex, include_missing: bool, include_hidden: bool) -> dict[str, int]:
    """Records by status, counted from the records themselves."""
    D = index._tables.Dispatch
    query = D.select(D.status, pw.fn.COUNT(D.dispatch_id)).group_by(D.status)
    if not include_missing:
        query = query.where(D.missing == False)  # noqa: E712
    if not include_hidden:
        query = query.where(D.hidden == False)  # noqa: E712
    return {status or "UNKNOWN": n for status, n in query.tuples()}


def truth_by_host(index: DispatchIndex) -> dict[str, int]:
    D = index._tables.Dispatch
    return dict(D.select(D.host, pw.fn.COUNT(D.dispatch_id)).group_by(D.host).tuples())


def truth_by_root(index: DispatchIndex) -> dict[str, int]:
    D = index._tables.Dispatch
    query = D.select(D.root, pw.fn.COUNT(D.dispatch_id)).where(D.host == index._store.host)
    return {root: n for root, n in query.group_by(D.root).tuples() if root is not None}


def log_rows(index: DispatchIndex) -> int:
    return index._tables.DispatchCount.select().count()


def assert_right(index: DispatchIndex) -> None:
    """Every count the table answers equals the records' own."""
    assert index.counts() == truth(index, True, False)
    for include_missing, include_hidden in FLAGS:
        q = ListQuery(include_missing=include_missing, include_hidden=include_hidden)
        assert index._store.counts(q) == truth(index, include_missing, include_hidden), q
    assert index.counts_by_host() == truth_by_host(index)
    assert index._store.count_by_root() == truth_by_root(index)


def assert_right_folded(index: DispatchIndex) -> None:
    assert_right(index)
    assert index._store.compact_counts(threshold=0)
    assert_right(index)
    C = index._tables.DispatchCount
    keys = C.select(C.host, C.root, C.status, C.hidden, C.missing).distinct().count()
    assert log_rows(index) == keys  # one row per key
    assert not C.select().where(C.n == 0).exists()


def test_counts_come_from_the_table(indexed: DispatchIndex) -> None:
    assert indexed.counts() == {"COMPLETED": 9, "FAILED": 1, "NEW_OBJECT": 1}
    C = indexed._tables.DispatchCount
    C.insert(host="elsewhere", status="", hidden=False, missing=False, n=2).execute()
    assert indexed.counts()["UNKNOWN"] == 2
    assert indexed.counts_by_host()["elsewhere"] == 2
    # ... but a filter is counted from the records.
    assert "UNKNOWN" not in indexed._store.counts(ListQuery(status=("COMPLETED",)))
    assert indexed._store.counts(ListQuery(lattice_name="broken")) == {"FAILED": 1}


def test_after_scans_and_rescans(indexed: DispatchIndex, corpus: Path) -> None:
    assert_right(indexed)
    rows = log_rows(indexed)
    indexed.scan()
    # A rewritten file read again in the same status logs nothing.
    pkl = corpus / "results" / ARITH / "result.pkl"
    os.utime(pkl, (pkl.stat().st_atime, pkl.stat().st_mtime + 5))
    assert indexed.scan().updated == 1
    assert log_rows(indexed) == rows
    assert_right_folded(indexed)


def test_after_a_status_changes(index: DispatchIndex, corpus: Path) -> None:
    index.add_dirs([corpus / "snapshots"])
    index.scan()
    assert index.counts() == {"RUNNING": 1}
    assert_right(index)
    index.add_dirs([corpus / "results"])
    index.scan()  # the COMPLETED copy takes the RUNNING record
    assert index.get(SLEEPY).status == "COMPLETED"
    assert "RUNNING" not in index.counts()
    assert_right_folded(index)
    # ... and back, when the final copy is gone.
    shutil.rmtree(corpus / "results" / SLEEPY)
    index.scan()
    assert index.get(SLEEPY).status == "RUNNING"
    assert_right(index)


def test_after_a_dispatch_without_a_status(indexed: DispatchIndex, corpus: Path) -> None:
    bad = corpus / "results" / "bad-one"
    bad.mkdir()
    (bad / "result.pkl").write_bytes(b"not a pickle")
    old = (bad / "result.pkl").stat().st_mtime - 3600
    os.utime(bad / "result.pkl", (old, old))
    indexed.scan()
    assert indexed.get("bad-one").status is None
    assert indexed.counts()["UNKNOWN"] == 1
    assert_right_folded(indexed)


def test_after_folders_go_missing_and_come_back(
    indexed: DispatchIndex, corpus: Path, tmp_path: Path
) -> None:
    shutil.move(corpus / "results" / ARITH, tmp_path / "aside")
    shutil.rmtree(corpus / "results" / FAILED)
    assert indexed.scan().missing == 2
    assert indexed._store.counts(ListQuery(include_missing=False)) == {
        "COMPLETED": 8,
        "NEW_OBJECT": 1,
    }
    assert_right(indexed)
    shutil.move(tmp_path / "aside", corpus / "results" / ARITH)
    indexed.scan()
    assert_right_folded(indexed)
    # Pruned: deleted for good.
    assert indexed.prune_missing() == [FAILED]
    assert indexed.counts() == {"COMPLETED": 9, "NEW_OBJECT": 1}
    assert_right(indexed)


def test_after_hide_delete_and_forget(indexed: DispatchIndex, corpus: Path) -> None:
    assert indexed.hide([ARITH, FAILED]) == 2
    assert "FAILED" not in indexed.counts()
    assert_right(indexed)
    assert indexed._store.delete([ARITH, SLEEPY]) == 2
    assert_right_folded(indexed)
    indexed.remove_dir(corpus / "results", forget=True)
    assert_right(indexed)
    assert indexed._store.delete([r.dispatch_id for r in indexed.list(limit=None)]) > 0
    indexed._store.delete([FAILED])
    assert indexed.counts() == {} and indexed.counts_by_host() == {}
    assert_right_folded(indexed)
    assert log_rows(indexed) == 0


@pytest.mark.sqlite_only
def test_after_covalents_ui_deletes_through_the_view(indexed: DispatchIndex) -> None:
    with DispatchDB(_dbpath(indexed)) as db:
        db.delete([ARITH, FAILED, "not-indexed"])
    assert indexed.counts() == {"COMPLETED": 8, "NEW_OBJECT": 1}
    assert_right(indexed)
    with DispatchDB(_dbpath(indexed)) as db:
        db.upsert(FAILED, "{}")  # shown again
    assert indexed.counts()["FAILED"] == 1
    assert_right_folded(indexed)


def test_folding_waits_for_a_long_log(indexed: DispatchIndex) -> None:
    rows = log_rows(indexed)
    assert 0 < rows < 1000
    assert not indexed._store.compact_counts()
    assert log_rows(indexed) == rows
    assert indexed._store.compact_counts(threshold=rows - 1)
    assert log_rows(indexed) < rows
    assert_right(indexed)


# ---- the migration ------------------------------------------------------------


def downgrade_to_v4(database: pw.Database) -> None:
    """Undo steps 12 to 5 (11 by 9): no stored bytes encoding; no change
    feed index nor notification table; no search, sorts, tags or sizes; no origins, no index of
    sub-workflows; no listing index; no count table, no triggers."""
    undo_step_12(database.execute_sql)
    database.execute_sql('DROP INDEX "dispatch_changed"')
    database.execute_sql('DROP TABLE "notification_sent"')
    undo_step_9(database.execute_sql, db_mod.is_postgres(database))
    database.execute_sql('DROP INDEX "dispatch_parent_dispatch_id"')
    database.execute_sql('ALTER TABLE "location" DROP COLUMN "origin"')
    for column in ("origin", "parent_dispatch_id", "parent_node_id", "covalent_state"):
        database.execute_sql(f'ALTER TABLE "dispatch" DROP COLUMN "{column}"')
    database.execute_sql('DROP INDEX "dispatch_listing"')
    if db_mod.is_postgres(database):
        database.execute_sql('DROP FUNCTION "dispatch_count_delta"() CASCADE')
    else:
        for event in ("insert", "update", "delete"):
            database.execute_sql(f'DROP TRIGGER "dispatch_count_{event}"')
    database.execute_sql('DROP TABLE "dispatch_count"')
    database.execute_sql("UPDATE index_meta SET value = '4' WHERE key = 'schema_version'")


def _schema(index: DispatchIndex) -> list[tuple[object, ...]]:
    """The count table's columns and the triggers on the dispatch table."""
    database = index._database
    if db_mod.is_postgres(database):
        columns = database.execute_sql(
            "SELECT column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_name = 'dispatch_count'"
            " ORDER BY ordinal_position"
        ).fetchall()
        triggers = database.execute_sql(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
            " WHERE tgrelid = 'dispatch'::regclass AND NOT tgisinternal ORDER BY 1"
        ).fetchall()
        return [*columns, *triggers]
    return database.execute_sql(
        "SELECT type, name, sql FROM sqlite_master"
        " WHERE name LIKE 'dispatch_count%' OR tbl_name = 'dispatch_count' ORDER BY name"
    ).fetchall()


def test_an_index_of_version_4_is_counted_as_it_upgrades(
    indexed: DispatchIndex, corpus: Path
) -> None:
    indexed.hide([ARITH])
    shutil.rmtree(corpus / "results" / FAILED)
    indexed.scan()
    fresh = _schema(indexed)
    expected = {flags: truth(indexed, *flags) for flags in FLAGS}
    with indexed._database.atomic():
        downgrade_to_v4(indexed._database)
    indexed.close()
    with DispatchIndex() as upgraded:
        assert upgraded._tables.MetaEntry.get_by_id("schema_version").value == str(LATEST)
        assert _schema(upgraded) == fresh
        # One row per key, seeded from the records.
        assert log_rows(upgraded) == len(
            {
                (r.host, r.root, r.status, r.hidden, r.missing)
                for r in upgraded._store.iterate(
                    ListQuery(include_missing=True, include_hidden=True)
                )
            }
        )
        assert {flags: truth(upgraded, *flags) for flags in FLAGS} == expected
        assert_right(upgraded)
        # ... and kept from then on.
        upgraded.hide([FAILED])
        assert_right_folded(upgraded)
