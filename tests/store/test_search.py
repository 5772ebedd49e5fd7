"""Full-text search, sorts with keyset cursors, tags and notes, folder
sizes: on both engines, against the real fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.errors import BadInputError, NotFoundError
from dispatch_indexer.store import fulltext
from dispatch_indexer.store.sorting import SORTS
from dispatch_indexer.store.sqlite import fulltext as sqlite_fulltext

from ..realdata import ARITH, FAILED, HEAVY, INNER, OUTER, SLEEPY

pytestmark = pytest.mark.engines


def ids(page: list) -> list[str]:
    return [r.dispatch_id for r in page]


def test_words_prefixes_and_phrases(indexed: DispatchIndex) -> None:
    assert ids(indexed.list(text="broken")) == [FAILED]
    assert ids(indexed.list(text="brok")) == [FAILED]  # a prefix
    assert ids(indexed.list(text="BROKEN")) == [FAILED]
    assert ids(indexed.list(text="4ab0cfe3")) == [FAILED]  # part of the id
    assert ids(indexed.list(text='"Node fail"')) == [FAILED]  # a phrase of the error
    assert ids(indexed.list(text='"fail Node"')) == []  # ...in its order
    assert ids(indexed.list(text="zzzz")) == []
    assert ids(indexed.list(text="broken zzzz")) == []  # every term must match


def test_search_combines_with_filters_and_cursor(indexed: DispatchIndex) -> None:
    everything = ids(indexed.list(text="results", limit=None))
    assert len(everything) >= 8
    assert ids(indexed.list(text="results", status="FAILED")) == [FAILED]
    paged: list[str] = []
    cursor = None
    while True:
        page = indexed.list(text="results", limit=3, cursor=cursor)
        paged += ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert paged == everything


def test_failing_tasks_are_searched(indexed: DispatchIndex) -> None:
    # The task "fail" failed: its name and traceback are searched.
    assert FAILED in ids(indexed.list(text='"most recent call"'))


def test_a_search_without_a_word_is_an_error(index: DispatchIndex) -> None:
    with pytest.raises(BadInputError, match="no word"):
        index.list(text='-- "" /')
    assert fulltext.tsquery(fulltext.parse('ab-c "x y" z')) == "(ab <-> c:*) & (x <-> y) & (z:*)"
    assert fulltext.fts5_query(fulltext.parse('ab-c "x y"')) == '"ab c"* AND "x y"'


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_sort_pages_like_the_whole_listing(
    indexed: DispatchIndex, sort: str, order: str
) -> None:
    whole = indexed.list(sort=sort, order=order, limit=None)
    paged: list[str] = []
    cursor = None
    while True:
        page = indexed.list(sort=sort, order=order, limit=3, cursor=cursor)
        paged += ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert paged == ids(whole)
    assert len(set(paged)) == len(paged) == len(whole)


def test_sorts_order_by_their_key(indexed: DispatchIndex) -> None:
    names = [r.lattice_name or "" for r in indexed.list(sort="lattice_name", order="asc")]
    assert names == sorted(names)
    sizes = [r.folder_size or -1 for r in indexed.list(sort="size", order="desc")]
    assert sizes == sorted(sizes, reverse=True)
    assert indexed.list(sort="size", order="desc")[0].dispatch_id == HEAVY
    durations = [
        (r.end_time - r.start_time).total_seconds() if r.end_time and r.start_time else -1
        for r in indexed.list(sort="duration", order="desc", limit=None)
    ]
    assert durations == sorted(durations, reverse=True)


def test_a_cursor_belongs_to_its_sort(indexed: DispatchIndex) -> None:
    cursor = indexed.list(sort="status", limit=2).next_cursor
    assert cursor is not None
    with pytest.raises(BadInputError, match="by status desc"):
        indexed.list(sort="end_time", limit=2, cursor=cursor)
    with pytest.raises(BadInputError, match="sort must be one of"):
        indexed.list(sort="colour")
    with pytest.raises(BadInputError, match="order must be"):
        indexed.list(order="sideways")


def test_folder_sizes_count_every_file(indexed: DispatchIndex, corpus: Path) -> None:
    record = indexed.get(ARITH)
    folder = Path(record.path)
    expected = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert record.folder_size == expected > 0


def test_tags_and_notes_are_shown_searched_and_filtered(indexed: DispatchIndex) -> None:
    assert indexed.tag(ARITH, ["keep", "paper-2026"]).tags == ("keep", "paper-2026")
    indexed.tag(OUTER, ["keep"])
    indexed.note(ARITH, "the run in figure 3")
    record = indexed.get(ARITH)
    assert record.tags == ["keep", "paper-2026"] and record.note == "the run in figure 3"
    assert set(ids(indexed.list(tag="keep"))) == {ARITH, OUTER}
    assert ids(indexed.list(tag="keep", status="COMPLETED", sort="lattice_name", order="asc")) == [
        ARITH,
        OUTER,
    ]
    assert ids(indexed.list(text="figure")) == [ARITH]
    assert ids(indexed.list(text='"paper 2026"')) == [ARITH]
    assert indexed.untag(ARITH, ["paper-2026", "never-there"]).tags == ("keep",)
    assert ids(indexed.list(text="paper")) == []
    indexed.note(ARITH, "")
    assert indexed.get(ARITH).note is None
    assert ids(indexed.list(text="figure")) == []
    listed = {r.dispatch_id: r for r in indexed.list(limit=None)}
    assert listed[OUTER].tags == ["keep"] and listed[INNER].tags == []


def test_labels_of_an_unknown_dispatch_are_refused(index: DispatchIndex) -> None:
    with pytest.raises(NotFoundError, match="no dispatch"):
        index.tag("no-such-dispatch", ["x"])
    with pytest.raises(NotFoundError):
        index.note("no-such-dispatch", "x")
    with pytest.raises(BadInputError, match="without spaces"):
        index.list(tag="two words")


def test_labels_outlive_rescans_moves_and_forgetting(indexed: DispatchIndex, corpus: Path) -> None:
    indexed.tag(SLEEPY, ["slow"])
    indexed.note(FAILED, "overflow in the solver")
    indexed.scan()
    assert indexed.get(SLEEPY).tags == ["slow"]
    # The failed dispatch's folder moves: forgotten, then found again.
    folder = Path(indexed.get(FAILED).path)
    moved = corpus / "results-alt" / folder.name
    shutil.move(folder, moved)
    indexed.scan()
    assert indexed.get(FAILED).path == str(moved)
    assert indexed.get(FAILED).note == "overflow in the solver"
    assert ids(indexed.list(text="solver")) == [FAILED]
    # Its root unregistered and forgotten, then registered again.
    indexed.remove_dir(corpus / "results-alt", forget=True)
    with pytest.raises(NotFoundError):
        indexed.get(FAILED)
    assert ids(indexed.list(text="solver")) == []
    indexed.add_dirs([corpus / "results-alt"])
    indexed.scan()
    assert indexed.get(FAILED).note == "overflow in the solver"
    assert ids(indexed.list(text="solver")) == [FAILED]


def test_labels_travel_through_export_and_import(indexed: DispatchIndex, tmp_path: Path) -> None:
    indexed.tag(ARITH, ["keep"])
    indexed.note(ARITH, "figure 3")
    lines = [r.list_json() for r in indexed.iterate(limit=None)]
    with DispatchIndex(f"sqlite:///{tmp_path / 'rebuilt.db'}") as rebuilt:
        assert rebuilt.import_labels(lines) == 1
        rebuilt.add_dirs([Path(indexed.get(ARITH).results_dir)])
        rebuilt.scan()
        assert rebuilt.get(ARITH).tags == ["keep"]
        assert rebuilt.get(ARITH).note == "figure 3"
        assert ids(rebuilt.list(text="figure")) == [ARITH]


def test_a_search_of_many_hits_walks_the_listing_order(
    indexed: DispatchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    few = {
        name: ids(indexed.list(text=name, sort="lattice_name", order="asc", limit=None))
        for name in ("results", "broken", "zzzz")
    }
    # On SQLite a search of more than FEW hits takes the other plan.
    monkeypatch.setattr(sqlite_fulltext, "FEW", 1)
    for name, expected in few.items():
        paged: list[str] = []
        cursor = None
        while True:
            page = indexed.list(text=name, sort="lattice_name", order="asc", limit=2, cursor=cursor)
            paged += ids(page)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert paged == expected
