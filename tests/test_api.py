"""The Python API a UI uses, and the CLI queries built on it."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatch_indexer import DispatchIndex
from dispatch_indexer.cli import app
from dispatch_indexer.corpus import clone
from dispatch_indexer.errors import BadInputError, MissingDependencyError, UntrustedDataError
from dispatch_indexer.records import DispatchRecord

from .realdata import ARITH, ARITH_AGAIN, FAILED, FIXTURES, INNER

# Run on both engines (see conftest); tests that open the SQLite file stay on it.
pytestmark = pytest.mark.engines


def cli(*args: str, code: int = 0, input: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), input=input)
    assert result.exit_code == code, result.output
    return result.output


def test_list_returns_a_page_of_plain_records(indexed: DispatchIndex) -> None:
    page = indexed.list(limit=5)
    assert len(page) == 5
    assert all(isinstance(r, DispatchRecord) for r in page)
    assert page.next_cursor
    rest = indexed.list(limit=50, cursor=page.next_cursor)
    assert rest.next_cursor is None
    ids = [r.dispatch_id for r in page] + [r.dispatch_id for r in rest]
    assert len(ids) == len(set(ids)) == 11
    times = [r.sort_time for r in page] + [r.sort_time for r in rest]
    assert times == sorted(times, reverse=True)


def test_filters(indexed: DispatchIndex, corpus: Path) -> None:
    assert [r.lattice_name for r in indexed.list(status="FAILED")] == ["broken"]
    assert {r.status for r in indexed.list(status=["failed", "NEW_OBJECT"])} == {
        "FAILED",
        "NEW_OBJECT",
    }
    assert {r.dispatch_id for r in indexed.list(lattice_name="arith")} == {
        ARITH,
        ARITH_AGAIN,
        "never-dispatched-shared",
    }
    nested = indexed.list(results_dir=corpus / "results-alt")
    assert [r.lattice_name for r in nested] == ["elsewhere"]
    assert len(indexed.list(results_dir=corpus / "results")) == 10
    assert indexed.list(results_dir=corpus / "results-al") == []  # a prefix is not a folder
    assert [r.dispatch_id for r in indexed.list(text="task failed")] == [FAILED]
    assert len(indexed.list(text="8da86192")) == 1
    late = indexed.list(since="2026-11-24T22:59:05.4+00:00")
    assert late and all(r.sort_time.isoformat() >= "2026-11-24T22:59:05.4" for r in late)
    early = indexed.list(until="2026-11-24T22:59:04.47")
    assert {r.lattice_name for r in early} == {"arith", "broken"}
    assert all(r.start_time is not None for r in early)


def test_missing_can_be_left_out(indexed: DispatchIndex, corpus: Path) -> None:
    shutil.rmtree(corpus / "results" / ARITH)
    indexed.scan()
    assert ARITH in {r.dispatch_id for r in indexed.list()}
    assert ARITH not in {r.dispatch_id for r in indexed.list(include_missing=False)}


def test_bad_arguments_are_clear(indexed: DispatchIndex) -> None:
    with pytest.raises(BadInputError, match="cursor"):
        indexed.list(cursor="not-a-cursor")
    with pytest.raises(BadInputError, match="since"):
        indexed.list(since="yesterday")
    with pytest.raises(BadInputError, match="limit"):
        indexed.list(limit=-1)


def test_pages_are_stable_while_dispatches_arrive(index: DispatchIndex, tmp_path: Path) -> None:
    results = tmp_path / "results"
    template = FIXTURES / "results" / ARITH
    for _ in range(30):  # same start time: the id breaks the tie
        clone(template, results)
    index.add_dirs([results])
    index.scan()
    seen: list[str] = []
    cursor = None
    while True:
        page = index.list(limit=7, cursor=cursor)
        seen += [r.dispatch_id for r in page]
        for _ in range(3):  # new arrivals between every two pages
            clone(FIXTURES / f"results/{INNER}", results)
        index.scan()
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    # Every dispatch that existed before the first page was seen exactly once.
    originals = {r.dispatch_id for r in index.list(limit=None, lattice_name="arith")}
    assert originals <= set(seen)


def test_counts(indexed: DispatchIndex) -> None:
    assert indexed.counts() == {"COMPLETED": 9, "FAILED": 1, "NEW_OBJECT": 1}


def test_get_and_bytes(indexed: DispatchIndex, corpus: Path) -> None:
    record = indexed.get(ARITH)
    assert record.result == 6 and len(record.nodes) == 5
    assert indexed.result_bytes(ARITH) == (corpus / "results" / ARITH / "result.pkl").read_bytes()


def test_load_result_needs_trust_and_covalent(indexed: DispatchIndex) -> None:
    with pytest.raises(UntrustedDataError, match="trust=True"):
        indexed.load_result(ARITH)
    with pytest.raises(MissingDependencyError, match="Covalent"):
        indexed.load_result(ARITH, trust=True)


def test_cli_list_formats_and_cursor(indexed: DispatchIndex) -> None:
    lines = cli("list", "--format", "jsonl").splitlines()
    assert len(lines) == 11 and json.loads(lines[0])["dispatch_id"]
    rows = list(csv.DictReader(io.StringIO(cli("list", "--format", "csv"))))
    assert len(rows) == 11 and list(rows[0]) == list(DispatchRecord.LIST_KEYS)
    result = CliRunner().invoke(app, ["list", "--limit", "4", "--json"])
    assert len(json.loads(result.stdout)) == 4
    cursor = result.stderr.split("--cursor ")[1].strip()
    after = json.loads(cli("list", "--json", "--cursor", cursor, "--limit", "100"))
    assert len(after) == 7
    assert cli("list", "--lattice", "broken", "--format", "jsonl").count("\n") == 1
    assert "no dispatches match" in cli("list", "--status", "CANCELLED")
    cli("list", "--format", "xml", code=2)
    cli("list", "--cursor", "garbage", code=2)
    cli("list", "--since", "not-a-time", code=2)


def test_cli_show_nodes(indexed: DispatchIndex) -> None:
    out = cli("show", FAILED, "--nodes")
    assert "fail" in out and "FAILED" in out and "RuntimeError: the task failed" in out
    nodes = json.loads(cli("show", FAILED, "--nodes", "--json"))
    assert [n["name"] for n in nodes] == ["fail", ":parameter:the task failed"]


def test_cli_export(indexed: DispatchIndex) -> None:
    lines = cli("export").splitlines()
    assert len(lines) == 11
    assert {json.loads(line)["dispatch_id"] for line in lines} >= {ARITH, FAILED}
    assert len(list(csv.DictReader(io.StringIO(cli("export", "--format", "csv"))))) == 11
    cli("export", "--format", "table", code=2)


def test_cli_prune(indexed: DispatchIndex, corpus: Path) -> None:
    assert "nothing to prune" in cli("prune", "--missing")
    shutil.rmtree(corpus / "results" / ARITH)
    shutil.rmtree(corpus / "results" / FAILED)
    indexed.scan()
    assert "nothing removed" in cli("prune", "--missing", input="n\n", code=1)
    assert len(indexed.list()) == 11
    assert "nothing to prune" in cli("prune", "--missing", "--older-than", "1")
    out = cli("prune", "--missing", input="y\n")
    assert "remove 2 record(s)" in out and "removed 2 record(s)" in out
    assert len(indexed.list()) == 9
    cli("prune", code=2)


def test_limit_zero_is_an_error_and_any_other_limit_is_taken(indexed: DispatchIndex) -> None:
    with pytest.raises(BadInputError, match="limit must be at least 1"):
        indexed.list(limit=0)
    assert len(indexed.list(limit=100_000)) == 11  # beyond the HTTP API's cap


def test_hidden_records_leave_listings_but_stay_readable(indexed: DispatchIndex) -> None:
    assert indexed.hide([ARITH]) == 1
    assert ARITH not in {r.dispatch_id for r in indexed.list()}
    assert indexed.get(ARITH).hidden is True
    assert sum(indexed.counts().values()) == 10
