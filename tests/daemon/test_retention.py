"""The ``[retention]`` policy, applied by a real daemon once its first scan
is done; and the policy's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatch_indexer import DispatchIndex
from dispatch_indexer.cli import app
from dispatch_indexer.paths import resolve
from dispatch_indexer.retention import parse_age, prune

from ..daemon_helpers import CovalentWriter, DaemonProcess, get, wait_for
from ..realdata import FAILED, FIXTURES


def _policy(text: str) -> None:
    file = resolve().config_file
    file.write_text(file.read_text() + f"\n[retention]\n{text}\n")


def test_the_daemon_applies_the_policy_after_its_first_scan(
    results: Path, writer: CovalentWriter
) -> None:
    failed = writer.finished_clone(FIXTURES / "results" / FAILED, results)
    kept, _ = writer.new_dispatch(results)
    _policy('older_than = "1d"\nstatuses = ["FAILED"]')
    daemon = DaemonProcess().start()
    try:

        def applied() -> dict | None:
            result = CliRunner().invoke(app, ["status", "--json"])
            return json.loads(result.output).get("retention")

        report = wait_for(applied, 15, "the policy's first run")
        assert report["removed"] == 1
        assert report["error"] is None
        assert get(failed) is None
        assert get(kept) is not None
    finally:
        daemon.stop()


def test_prune_dry_run_and_statuses(results: Path, writer: CovalentWriter) -> None:
    failed = writer.finished_clone(FIXTURES / "results" / FAILED, results)
    with DispatchIndex() as index:
        index.scan()
        report = prune(index, statuses=["FAILED"], older_than="1d", dry_run=True)
        assert report.removed == [failed]
        assert index.get(failed)
        assert prune(index, statuses=["FAILED"], older_than=36500).removed == []
        assert prune(index, statuses=["FAILED"], older_than="1h").removed == [failed]
        assert prune(index, statuses=["FAILED"], older_than="1h").removed == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('statuses = ["FAILED"]', "retention: needs older_than"),
        ('older_than = "soon"', 'older_than must be a number of days or like "30d"'),
        ('older_than = "3d"\nfiles = "yes"', "retention: files must be true or false"),
        ('older_than = "3d"\nkeep = 1', "retention: unknown setting(s) keep"),
    ],
)
def test_policy_errors_are_one_line(results: Path, text: str, message: str) -> None:
    _policy(text)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code != 0
    (line,) = [t for t in result.output.splitlines() if t]
    assert line.startswith("covalent-indexer: error: ")
    assert message in line


def test_ages() -> None:
    assert parse_age(2).days == 2
    assert parse_age("12h").total_seconds() == 12 * 3600
    assert parse_age("1.5d").total_seconds() == 1.5 * 86400
