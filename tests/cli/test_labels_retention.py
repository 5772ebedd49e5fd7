"""The CLI of issue 15's everyday use: sort and tag in ``list``, ``tag``,
``untag``, ``note``, ``export``/``import``, ``prune`` by status and age
with ``--files``, and disk use in ``dirs``."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatch_indexer import DispatchIndex, retention
from dispatch_indexer.cli import app
from dispatch_indexer.config import _from_toml
from dispatch_indexer.errors import BadInputError, ConfigError

from ..realdata import ARITH, FAILED, HEAVY, ROOT_NAMES

pytestmark = pytest.mark.engines


@pytest.fixture
def registered(cli, corpus: Path) -> Path:
    cli("add-dir", *[str(corpus / name) for name in ROOT_NAMES])
    cli("scan")
    return corpus


def listed(cli, *args: str) -> list[str]:
    return [r["dispatch_id"] for r in json.loads(cli("list", "--json", *args).output)]


def test_tag_untag_note_and_list_by_tag(cli, registered: Path) -> None:
    assert "tags: keep paper" in cli("tag", ARITH, "keep", "paper").output
    cli("note", ARITH, "figure 3 of the paper")
    assert listed(cli, "--tag", "keep") == [ARITH]
    assert listed(cli, "--text", "figure") == [ARITH]
    shown = json.loads(cli("show", ARITH, "--json").output)
    assert shown["tags"] == ["keep", "paper"] and shown["note"] == "figure 3 of the paper"
    rows = csv.DictReader(io.StringIO(cli("list", "--tag", "keep", "--format", "csv").output))
    assert [(r["dispatch_id"], r["tags"]) for r in rows] == [(ARITH, "keep;paper")]
    assert "tags: paper" in cli("untag", ARITH, "keep").output
    assert listed(cli, "--tag", "keep") == []


def test_labels_of_an_unknown_dispatch_are_one_line_errors(cli, registered: Path) -> None:
    for args in (("tag", "nope", "x"), ("untag", "nope", "x"), ("note", "nope", "x")):
        result = cli(*args, code=1)
        assert result.output.strip().count("\n") == 0
        assert "no dispatch with id 'nope'" in result.output
    assert "without spaces" in cli("tag", ARITH, "two words", code=2).output


def test_list_sorts_both_ways(cli, registered: Path) -> None:
    down = listed(cli, "--sort", "size")
    assert down[0] == HEAVY
    assert listed(cli, "--sort", "size", "--order", "asc") == list(reversed(down))
    assert "sort must be one of" in cli("list", "--sort", "colour", code=2).output


def test_export_then_import_brings_labels_back(cli, registered: Path, tmp_path: Path) -> None:
    cli("tag", FAILED, "investigate")
    cli("note", FAILED, "overflow in the solver")
    exported = cli("export").output
    dump = tmp_path / "export.jsonl"
    dump.write_text(exported)
    other = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    assert "of 1 dispatch(es)" in cli("--db", other, "import", str(dump)).output
    cli("--db", other, "scan")
    record = json.loads(cli("--db", other, "show", FAILED, "--json").output)
    assert record["tags"] == ["investigate"] and record["note"] == "overflow in the solver"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert "line 1" in cli("import", str(bad), code=2).output


def test_prune_by_status_dry_run_then_for_real(cli, registered: Path) -> None:
    dry = cli("prune", "--status", "FAILED", "--dry-run").output
    assert FAILED in dry and "would hide 1 record(s) whose folders are still there" in dry
    assert FAILED in listed(cli)
    assert "hid 1 record(s)" in cli("prune", "--status", "FAILED", "--yes").output
    assert FAILED not in listed(cli)
    cli("scan")  # its folder is still there: a rescan keeps it hidden
    assert FAILED not in listed(cli)
    folder = Path(json.loads(cli("show", FAILED, "--json").output)["path"])
    out = cli("prune", "--status", "FAILED", "--files", "--yes").output
    assert "removed 1 record(s) and 1 folder(s)" in out and not folder.exists()
    assert "nothing to prune" in cli("prune", "--status", "FAILED", "--yes").output
    assert "say what to prune" in cli("prune", "--yes", code=2).output
    assert "older-than must be" in cli("prune", "--older-than", "soon", code=2).output


def test_prune_files_deletes_folders_under_roots_only(cli, registered: Path) -> None:
    folder = Path(json.loads(cli("show", FAILED, "--json").output)["path"])
    answered = CliRunner().invoke(app, ["prune", "--status", "FAILED", "--files"], input="n\n")
    assert answered.exit_code == 1 and "nothing removed" in answered.output
    assert folder.is_dir()
    out = cli("prune", "--status", "FAILED", "--older-than", "1h", "--files", "--yes").output
    assert "removed 1 record(s) and 1 folder(s)" in out
    assert not folder.exists()
    cli("scan")
    assert FAILED not in listed(cli)


def test_prune_files_refuses_a_folder_reached_through_a_link(
    index: DispatchIndex, corpus: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (corpus / "results" / FAILED).rename(outside / FAILED)
    os.symlink(outside / FAILED, corpus / "results" / FAILED)
    index.config.follow_symlinks = True
    index.add_dirs([corpus / "results"])
    index.scan()
    assert FAILED in [r.dispatch_id for r in index.list(limit=None)]
    with pytest.raises(BadInputError, match=r"symbolic link.*nothing was deleted"):
        retention.prune(index, statuses=["FAILED"], files=True)
    assert (outside / FAILED / "result.pkl").exists()
    assert FAILED in [r.dispatch_id for r in index.list(limit=None)]


def test_prune_ages(index: DispatchIndex, corpus: Path) -> None:
    index.add_dirs([corpus / "results"])
    index.scan()
    everything = [r.dispatch_id for r in index.list(limit=None)]
    # The fixtures ran in 2026: none is older than 2020, all older than an hour.
    assert retention.prune(index, older_than="2020-01-01", dry_run=True).dispatch_ids == []
    report = retention.prune(index, older_than="1h", dry_run=True)
    # ...but the one never dispatched: it has no time but its file's.
    assert set(everything) - set(report.dispatch_ids) <= {"never-dispatched-shared"}
    assert len(report.dispatch_ids) >= len(everything) - 1
    assert report.removed == 0 and len(index.list(limit=None)) == len(everything)


def test_dirs_and_stats_show_disk_use(cli, registered: Path) -> None:
    roots = json.loads(cli("dirs", "--json").output)
    results = next(r for r in roots if r["path"].endswith("/results"))
    assert results["bytes"] > 3_000_000  # the heavy dispatch alone is 3 MB
    assert " MB" in cli("dirs").output


def test_retention_config_is_checked() -> None:
    config = _from_toml({"retention": {"statuses": ["FAILED"], "older_than": "30d"}})
    assert config.retention.enabled and not config.retention.files
    assert not _from_toml({}).retention.enabled
    with pytest.raises(ConfigError, match="retention"):
        _from_toml({"retention": {"older_than": "someday"}})
