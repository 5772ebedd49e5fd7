"""The ``[retention]`` policy, applied by a real daemon once its first scan
is done; and the policy's checks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatch_indexer import DispatchIndex
from dispatch_indexer.cli import app
from dispatch_indexer.paths import resolve
from dispatch_indexer.retention import cutoff_of, prune

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
        # Its folder is still there: hidden, not removed (a rescan would find it).
        assert (report["removed"], report["hidden"], report["error"]) == (0, 1, None)
        with DispatchIndex() as index:
            shown = {r.dispatch_id for r in index.iterate()}
        assert failed not in shown
        assert kept in shown
        assert get(kept) is not None
    finally:
        daemon.stop()


def test_prune_dry_run_and_statuses(results: Path, writer: CovalentWriter) -> None:
    failed = writer.finished_clone(FIXTURES / "results" / FAILED, results)
    with DispatchIndex() as index:
        index.scan()
        report = prune(index, statuses=["FAILED"], older_than="1d", dry_run=True)
        assert report.dispatch_ids == report.kept_on_disk == [failed]
        assert "would hide 1 record(s)" in report.line()
        assert index.get(failed)
        assert prune(index, statuses=["FAILED"], older_than=36500).dispatch_ids == []
        report = prune(index, statuses=["FAILED"], older_than="1h")
        assert (report.removed, report.hidden) == (0, 1)
        assert prune(index, statuses=["FAILED"], older_than="1h").dispatch_ids == []
        index.scan()
        assert failed not in {r.dispatch_id for r in index.iterate()}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('statuses = "FAILED"', "retention.statuses must be a list of status names"),
        ('older_than = "soon"', "older-than must be an age (30d, 12h, 90m, 2w) or an ISO date"),
        ('older_than = "3d"\nfiles = "yes"', "retention.files must be true or false"),
        ('older_than = "3d"\nkeep = 1', "invalid [retention]"),
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
    now = dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)
    assert now - cutoff_of(2, now) == dt.timedelta(days=2)
    assert now - cutoff_of("12h", now) == dt.timedelta(hours=12)
    assert now - cutoff_of("1.5d", now) == dt.timedelta(days=1.5)
