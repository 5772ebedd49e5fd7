"""The command line, end to end through typer's CliRunner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ..realdata import ARITH, ARITH_AGAIN, INNER_240, OUTER_240, ROOT_NAMES, SLEEPY

# Run on both engines (see conftest); tests that open the SQLite file stay on it.
pytestmark = pytest.mark.engines

LIST_KEYS = [
    "dispatch_id",
    "status",
    "lattice_name",
    "start_time",
    "end_time",
    "num_nodes",
    "error",
    "path",
    "results_dir",
    "missing",
    "unreadable",
    "source",
    "origin",
    "updated_at",
    "folder_size",
    "tags",
    "note",
]


@pytest.fixture
def registered(cli, corpus: Path) -> Path:
    cli("add-dir", *[str(corpus / name) for name in ROOT_NAMES])
    cli("scan")
    return corpus


def test_add_dir_scan_list(cli, corpus: Path, manifest) -> None:
    out = cli("add-dir", str(corpus / "results"), str(corpus / "results-alt")).output
    assert f"registered {corpus / 'results'}" in out
    out = cli("scan").output
    assert out.strip().startswith("11 new, 0 updated, 0 unchanged, 0 missing, 0 unreadable")
    table = cli("list").output
    assert ARITH in table and "COMPLETED" in table and "FAILED" in table


def test_add_dir_resolves_relative_paths(cli, corpus: Path, monkeypatch) -> None:
    monkeypatch.chdir(corpus)
    cli("add-dir", "results")
    roots = json.loads(cli("dirs", "--json").output)
    assert roots[0]["path"] == str(corpus / "results")


@pytest.mark.parametrize("bad", ["does-not-exist", "a-file"])
def test_add_dir_rejects_bad_paths(cli, tmp_path: Path, bad: str) -> None:
    (tmp_path / "a-file").write_text("x")
    result = cli("add-dir", str(tmp_path / bad), code=2)
    assert len(result.output.strip().splitlines()) == 1
    assert "error" in result.output


def test_bad_add_dir_changes_nothing(cli, registered: Path) -> None:
    before = cli("dirs", "--json").output
    cli("add-dir", str(registered / "results"), "/no/such/place", code=2)
    assert cli("dirs", "--json").output == before


def test_list_json_has_exactly_the_documented_keys(cli, registered: Path) -> None:
    records = json.loads(cli("list", "--json").output)
    assert len(records) == 11
    for record in records:
        assert list(record) == LIST_KEYS
    starts = [r["start_time"] for r in records if r["start_time"]]
    assert starts == sorted(starts, reverse=True)  # newest first


def test_list_filters(cli, registered: Path) -> None:
    failed = json.loads(cli("list", "--json", "--status", "FAILED").output)
    assert [r["lattice_name"] for r in failed] == ["broken"]
    several = json.loads(cli("list", "--json", "-s", "failed", "-s", "NEW_OBJECT").output)
    assert {r["status"] for r in several} == {"FAILED", "NEW_OBJECT"}
    assert len(json.loads(cli("list", "--json", "--limit", "3").stdout)) == 3
    cli("list", "--limit", "-1", code=2)


def test_list_marks_missing_and_unreadable(cli, registered: Path) -> None:
    import shutil

    shutil.rmtree(registered / "results" / ARITH)
    pkl = registered / f"results/{ARITH_AGAIN}/result.pkl"
    pkl.write_bytes(b"not a pickle")
    os.utime(pkl, (1, 1))
    cli("scan")
    table = cli("list").output
    assert "COMPLETED (missing)" in table
    assert "(unreadable)" in table
    records = {r["dispatch_id"]: r for r in json.loads(cli("list", "--json").output)}
    assert records[ARITH]["missing"] is True
    assert "not a readable pickle" in records[ARITH_AGAIN]["unreadable"]


def test_show(cli, registered: Path) -> None:
    out = cli("show", ARITH).output
    assert "arith" in out and "COMPLETED" in out and "nodes (5)" in out
    data = json.loads(cli("show", ARITH, "--json").output)
    assert data["dispatch_id"] == ARITH
    assert data["result"] == 6
    assert len(data["nodes"]) == 5
    assert "data" not in data and "bytes" not in data


def test_show_unknown_id(cli, registered: Path) -> None:
    result = cli("show", "no-such-id", code=1)
    expected = "covalent-indexer: error: no dispatch with id 'no-such-id' in the index"
    assert result.output.strip() == expected


def test_remove_dir(cli, registered: Path) -> None:
    cli("remove-dir", str(registered / "results-alt"))
    assert len(json.loads(cli("dirs", "--json").output)) == 2
    assert len(json.loads(cli("list", "--json").output)) == 11  # records stay
    out = cli("remove-dir", str(registered / "results"), "--forget").output
    assert "forgot 9 record(s)" in out
    records = {r["dispatch_id"]: r for r in json.loads(cli("list", "--json").output)}
    # The sleepy dispatch has a copy under a root still registered: it stays.
    assert len(records) == 2
    sleepy = records[SLEEPY]
    assert sleepy["status"] == "RUNNING" and "snapshots" in sleepy["path"]
    cli("remove-dir", str(registered / "results"), code=2)


def test_dirs_counts(cli, registered: Path) -> None:
    roots = {r["path"]: r for r in json.loads(cli("dirs", "--json").output)}
    assert roots[str(registered / "results")]["records"] == 10
    assert roots[str(registered / "results-alt")]["records"] == 1
    assert "records" in cli("dirs").output


def test_db_option_and_environment(cli, registered: Path, tmp_path: Path, monkeypatch) -> None:
    other = tmp_path / "other.sqlite3"
    cli("--db", f"sqlite:///{other}", "scan")
    assert len(json.loads(cli("--db", f"sqlite:///{other}", "list", "--json").output)) == 11
    assert other.exists()
    monkeypatch.setenv("COVALENT_INDEXER_DB", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    assert json.loads(cli("list", "--json").output) == []


def test_bad_database_url(cli) -> None:
    result = cli("--db", "mysql://nope", "list", code=2)
    assert "unsupported database URL" in result.output


def test_broken_config_file(cli, home: Path) -> None:
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text("roots = [[[")
    result = cli("dirs", code=3)
    assert "cannot read" in result.output
    (home / "config" / "config.toml").write_text('[[roots]]\npath = "/x"\nwatch = "sometimes"\n')
    assert "watch must be one of" in cli("dirs", code=3).output


def test_home_option(cli, tmp_path: Path, corpus: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    cli("--home", str(elsewhere), "add-dir", str(corpus / "results"))
    assert (elsewhere / "config" / "config.toml").exists()
    assert json.loads(cli("dirs", "--json").output) == []


def test_config_file_is_private(cli, corpus: Path, home: Path) -> None:
    cli("add-dir", str(corpus / "results"))
    config = home / "config" / "config.toml"
    assert oct(config.stat().st_mode & 0o777) == oct(0o600)
    assert str(corpus / "results") in config.read_text()


def test_console_script_runs(corpus: Path) -> None:
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "covalent-indexer"
    out = subprocess.run([str(exe), "show", "x"], capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == "covalent-indexer: error: no dispatch with id 'x' in the index"
    out = subprocess.run(
        [sys.executable, "-m", "dispatch_indexer", "add-dir", "/nonexistent"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "covalent-indexer: error: no such directory: /nonexistent"


def test_show_says_where_a_record_came_from_and_its_sub_workflows(
    cli, covalent_server: Path
) -> None:
    cli("add-dir", str(covalent_server / "data"))
    cli("scan")
    inner = cli("show", INNER_240).output
    assert f"parent: {OUTER_240} (task 0)" in inner
    lines = dict(line.split(None, 1) for line in inner.splitlines() if len(line.split()) > 1)
    assert lines["origin"] == "covalent-db" and lines["covalent_state"] == "active"
    assert lines["parent_dispatch_id"] == OUTER_240 and lines["parent_node_id"] == "0"
    outer = cli("show", OUTER_240).output
    assert "sub-workflows (1):" in outer and f"  {INNER_240} (task 0)" in outer
    assert "parent:" not in outer
    shown = json.loads(cli("show", INNER_240, "--json").output)
    assert (shown["origin"], shown["parent_dispatch_id"]) == ("covalent-db", OUTER_240)
    listed = {r["dispatch_id"]: r for r in json.loads(cli("list", "--json").output)}
    assert listed[INNER_240]["origin"] == "covalent-db"


def test_a_result_pkl_record_is_of_that_origin(cli, registered: Path) -> None:
    shown = json.loads(cli("show", ARITH, "--json").output)
    assert shown["origin"] == "result-pkl" and shown["parent_dispatch_id"] is None
    assert "parent:" not in cli("show", ARITH).output
