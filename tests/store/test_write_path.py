"""The write path of a cold build (issue 16, session 9): values bound by
shortcuts equal to peewee's own conversion, and the dispatch table's indexes
set aside during a bulk build and made again, exactly, at its end, by a
crash's next scan, or by a migration."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.read.reader import read_dispatch
from dispatch_indexer.store import bulk
from dispatch_indexer.store.models import EncodedJSON
from dispatch_indexer.store.statements import converter

from ..realdata import ROOT_NAMES
from .downgrade import undo_step_12

_UTC = dt.timezone.utc
VALUES = (
    None,
    0,
    -1,
    2**62,
    True,
    False,
    1.5,
    "",
    "plain ascii",
    "caf\u00e9",
    "nul\x00inside",
    "lone \udce9 byte",
    "lone \ud800 surrogate",
    b"bytes",
    dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=_UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.datetime(2026, 1, 2, 3, 4, 5),
    EncodedJSON('{"a":1}'),
    {"a": ["b", 1]},
)


def _sqlite_indexes(index: DispatchIndex) -> list[tuple[str, str]]:
    return index._store.database.execute_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dispatch'"
        " AND sql IS NOT NULL ORDER BY name"
    ).fetchall()


@pytest.mark.engines
def test_each_shortcut_binds_what_peewee_would(index: DispatchIndex, db_engine: str) -> None:
    tables = index._tables
    for model in (tables.Dispatch, tables.Location, tables.ResultBlob):
        for field in model._meta.sorted_fields:
            fast = converter(field)
            for value in VALUES:
                try:
                    expected = field.db_value(value)
                except Exception as exc:  # the shortcut must fail alike
                    with pytest.raises(type(exc)):
                        fast(value)
                    continue
                got = fast(value)
                assert type(got) is type(expected), (field.name, value)
                assert _plain(got) == _plain(expected), (field.name, value)


def _plain(value: object) -> object:
    """A bound value as something that compares (the drivers' binary
    wrappers do not)."""
    if isinstance(value, memoryview):
        return bytes(value)
    return getattr(value, "obj", value)


@pytest.mark.sqlite_only
def test_a_bulk_build_sets_the_indexes_aside_and_makes_them_again(
    index: DispatchIndex, corpus: Path
) -> None:
    store = index._store
    before = _sqlite_indexes(index)
    assert store.begin_bulk()
    store.set_indexes_aside()
    during = [name for name, _ in _sqlite_indexes(index)]
    assert during == list(bulk.KEPT)
    root = corpus / ROOT_NAMES[0]
    folders = [p.parent for p in sorted(root.glob("*/result.pkl"))]
    store.apply([read_dispatch(f, root=str(root)) for f in folders])
    store.end_bulk()
    assert _sqlite_indexes(index) == before
    kept = store.database.execute_sql(
        "SELECT count(*) FROM index_meta WHERE key LIKE 'bulk%'"
    ).fetchone()
    assert kept == (0,)


@pytest.mark.sqlite_only
def test_indexes_set_aside_by_a_build_cut_short_come_back_on_the_next_scan(
    home: Path, corpus: Path
) -> None:
    with DispatchIndex() as index:
        before = _sqlite_indexes(index)
        index._store.begin_bulk()
        index._store.set_indexes_aside()  # then a crash
    with DispatchIndex() as index:
        index.add_dirs([corpus / ROOT_NAMES[0]])
        index.scan()
        assert _sqlite_indexes(index) == before
        assert not bulk.active(index._store.scope)


@pytest.mark.sqlite_only
def test_a_migration_puts_the_indexes_set_aside_back_first(home: Path) -> None:
    with DispatchIndex() as index:
        before = _sqlite_indexes(index)
        index._store.begin_bulk()
        index._store.set_indexes_aside()  # then a crash, and an older version's index
        database = index._store.database
        undo_step_12(database.execute_sql)
        database.execute_sql("UPDATE index_meta SET value = '11' WHERE key = 'schema_version'")
    with DispatchIndex() as index:
        # The sort indexes (``sorting``) are the build's end's to make again.
        assert _sqlite_indexes(index) == [i for i in before if not i[0].startswith("dispatch_by_")]
        # The build itself is still to finish: its next scan does.
        assert bulk.active(index._store.scope)
        index.scan()
        assert _sqlite_indexes(index) == before


def test_only_a_build_bigger_than_its_table_sets_the_indexes_aside() -> None:
    assert bulk.set_aside_worth_it(bulk.MIN_LISTED, 0)
    assert bulk.set_aside_worth_it(50_000, 50_000)
    assert not bulk.set_aside_worth_it(bulk.MIN_LISTED - 1, 0)
    assert not bulk.set_aside_worth_it(10_000, 10_001)
