"""Scanning: finding dispatch folders, change detection, missing, moves, copies."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.read.reader import read_dispatch

from ..realdata import ARITH, ELSEWHERE, ROOT_NAMES, SLEEPY

# Run on both engines (see conftest); tests that open the SQLite file stay on it.
pytestmark = pytest.mark.engines


def _ids(index: DispatchIndex) -> set[str]:
    return {r.dispatch_id for r in index.list()}


def test_scan_finds_every_dispatch(index: DispatchIndex, corpus: Path, manifest) -> None:
    index.add_dirs([corpus / name for name in ROOT_NAMES])
    summary = index.scan()
    assert summary.new == len({m["dispatch_id"] for m in manifest})
    assert summary.unreadable == 0 and summary.missing == 0
    assert _ids(index) == {m["dispatch_id"] for m in manifest}
    for record in index.list():
        assert record.unreadable is None
        assert record.source == "scan"
        assert Path(record.path).is_dir()


def test_the_newest_copy_wins_whatever_the_file_times(indexed: DispatchIndex, corpus: Path) -> None:
    record = indexed.get(SLEEPY)
    assert record.status == "COMPLETED"
    assert record.path == str(corpus / "results" / SLEEPY)
    # Even when the running snapshot is touched after the final copy.
    snapshot = corpus / "snapshots/running" / SLEEPY / "result.pkl"
    os.utime(snapshot)
    indexed.scan()
    assert indexed.get(SLEEPY).status == "COMPLETED"


def test_running_copy_then_final_copy(index: DispatchIndex, corpus: Path) -> None:
    index.add_dirs([corpus / "snapshots"])
    index.scan()
    assert index.get(SLEEPY).status == "RUNNING"
    index.add_dirs([corpus / "results"])
    index.scan()
    record = index.get(SLEEPY)
    assert record.status == "COMPLETED"
    assert record.path == str(corpus / "results" / SLEEPY)


def test_rescan_reads_nothing_unchanged(indexed: DispatchIndex) -> None:
    reads = []
    reader = indexed.reader()
    real = reader.read_many
    reader.read_many = lambda tasks: reads.extend(tasks) or real(tasks)  # type: ignore[method-assign]
    summary = indexed.scan()
    assert reads == []
    assert summary.new == summary.updated == 0
    assert summary.unchanged == 12


def test_a_rewritten_result_is_read_again(indexed: DispatchIndex, corpus: Path) -> None:
    final = corpus / "results" / SLEEPY / "result.pkl"
    running = corpus / "snapshots/running" / SLEEPY / "result.pkl"
    before = indexed.get(SLEEPY).updated_at
    # Covalent rewrites in place: same inode, new content.
    final.write_bytes(final.read_bytes())
    summary = indexed.scan()
    assert summary.updated == 1
    assert indexed.get(SLEEPY).updated_at > before
    assert running.exists()


def test_deleted_folder_is_marked_missing_and_kept(indexed: DispatchIndex, corpus: Path) -> None:
    shutil.rmtree(corpus / "results" / ARITH)
    summary = indexed.scan()
    assert summary.missing == 1
    record = indexed.get(ARITH)
    assert record.missing
    assert record.status == "COMPLETED"
    assert indexed.result_bytes(ARITH)[:2] == b"\x80\x05"
    assert ARITH in {r.dispatch_id for r in indexed.list()}


def test_missing_comes_back(indexed: DispatchIndex, corpus: Path, tmp_path: Path) -> None:
    shutil.move(corpus / "results" / ARITH, tmp_path / "aside")
    indexed.scan()
    assert indexed.get(ARITH).missing
    shutil.move(tmp_path / "aside", corpus / "results" / ARITH)
    indexed.scan()
    assert not indexed.get(ARITH).missing


def test_a_moved_folder_is_followed(indexed: DispatchIndex, corpus: Path) -> None:
    target = corpus / "results" / "archive" / ARITH
    target.parent.mkdir()
    shutil.move(corpus / "results" / ARITH, target)
    summary = indexed.scan()
    assert summary.missing == 0
    record = indexed.get(ARITH)
    assert record.path == str(target)
    assert not record.missing
    assert len([r for r in indexed.list() if r.dispatch_id == ARITH]) == 1


def test_deleting_the_shown_copy_falls_back_to_the_other(
    indexed: DispatchIndex, corpus: Path
) -> None:
    shutil.rmtree(corpus / "results" / SLEEPY)
    indexed.scan()
    record = indexed.get(SLEEPY)
    assert not record.missing
    assert record.status == "RUNNING"
    assert record.path == str(corpus / "snapshots/running" / SLEEPY)


def test_a_broken_rewrite_keeps_the_good_record(indexed: DispatchIndex, corpus: Path) -> None:
    pkl = corpus / "results" / ARITH / "result.pkl"
    good = pkl.read_bytes()
    pkl.write_bytes(good[: len(good) // 2])
    old = pkl.stat().st_mtime - 3600
    os.utime(pkl, (old, old))  # long settled: it stays broken
    summary = indexed.scan()
    assert summary.unreadable == 1
    record = indexed.get(ARITH)
    assert record.unreadable == "result.pkl is truncated"
    assert record.status == "COMPLETED"
    assert record.lattice_name == "arith"
    assert record.result == 6
    assert indexed.result_bytes(ARITH) == good
    # Fixed on disk: readable again.
    pkl.write_bytes(good)
    indexed.scan()
    assert indexed.get(ARITH).unreadable is None


def test_a_file_caught_mid_write_is_retried_after_it_settles(
    index: DispatchIndex, corpus: Path
) -> None:
    index.config.settle_seconds = 0.3
    pkl = corpus / "results" / ARITH / "result.pkl"
    good = pkl.read_bytes()
    pkl.write_bytes(good[:100])  # just written: it may still be growing
    slept: list[float] = []

    def finish_writing(seconds: float) -> None:
        slept.append(seconds)
        pkl.write_bytes(good)
        past = pkl.stat().st_mtime - 10
        os.utime(pkl, (past, past))

    index.add_dirs([corpus / "results"])
    from dispatch_indexer.scan.scanner import Scanner

    summary = Scanner(index._store, index.config, sleep=finish_writing).run(
        [str(corpus / "results")]
    )
    assert slept and slept[0] <= 0.3
    assert summary.unreadable == 0
    record = index.get(ARITH)
    assert record.unreadable is None and record.status == "COMPLETED"


def test_a_scan_that_defers_hands_a_file_caught_mid_write_over_without_waiting(
    index: DispatchIndex, corpus: Path
) -> None:
    """The daemon's scans run on its loop: they hand such files to its
    schedule rather than hold every other read for the settle window."""
    index.config.settle_seconds = 30.0
    pkl = corpus / "results" / ARITH / "result.pkl"
    pkl.write_bytes(pkl.read_bytes()[:100])  # just written: it may still be growing
    handed: list[tuple[list[str], float]] = []

    def never_sleep(seconds: float) -> None:
        raise AssertionError(f"the scan waited {seconds} s")

    index.add_dirs([corpus / "results"])
    from dispatch_indexer.scan.scanner import Scanner

    summary = Scanner(
        index._store,
        index.config,
        sleep=never_sleep,
        defer_unsettled=lambda folders, seconds: handed.append((folders, seconds)),
    ).run([str(corpus / "results")])
    assert handed == [([str(corpus / "results" / ARITH)], pytest.approx(30.0, abs=2.0))]
    assert summary.unreadable == 0 and summary.unsettled == 0


def test_a_file_that_stays_broken_is_recorded_unreadable(
    index: DispatchIndex, corpus: Path
) -> None:
    index.config.settle_seconds = 0.2
    pkl = corpus / "results" / ARITH / "result.pkl"
    pkl.write_bytes(pkl.read_bytes()[:100])
    index.add_dirs([corpus / "results"])
    summary = index.scan()
    assert summary.unreadable == 1
    assert index.get(ARITH).unreadable == "result.pkl is truncated"
    assert index.get(ARITH).status == "COMPLETED"  # from result_info.yaml


def test_hidden_folders_symlinks_and_depth(index: DispatchIndex, corpus: Path, tmp_path) -> None:
    root = tmp_path / "root"
    (root / ".hidden").mkdir(parents=True)
    shutil.copytree(corpus / "results" / ARITH, root / ".hidden" / ARITH)
    # A symlink loop and a symlink to a dispatch: not followed by default.
    (root / "loop").symlink_to(root)
    (root / "link").symlink_to(corpus / "results")
    deep = root.joinpath(*["d"] * 20)
    deep.mkdir(parents=True)
    shutil.copytree(corpus / "results" / SLEEPY, deep / SLEEPY)
    index.add_dirs([root])
    summary = index.scan()
    assert summary.new == 0
    index.config.max_depth = 25
    assert index.scan().new == 1
    index.config.follow_symlinks = True
    summary = index.scan()  # the loop must terminate
    assert summary.new == 9  # the tenth, SLEEPY, was already found deep down
    assert len(index.list()) == 10


def _scan_as_an_ordinary_user() -> dict:
    """``scan --json`` in a process that permission bits apply to.

    Root reads any folder through CAP_DAC_OVERRIDE; dropping that capability
    (and DAC_READ_SEARCH) makes a mode-0 folder unreadable even to root.
    """
    command = [sys.executable, "-m", "dispatch_indexer", "scan", "--json"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        caps = "-dac_override,-dac_read_search"
        command = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_an_unreadable_folder_is_reported_not_fatal(indexed: DispatchIndex, corpus: Path) -> None:
    locked = corpus / "results-alt" / "nested"
    locked.chmod(0)
    try:
        summary = _scan_as_an_ordinary_user()
    finally:
        locked.chmod(stat.S_IRWXU)
    assert summary["inaccessible"] == 1
    assert summary["missing"] == 0  # unknown is not gone
    assert any("cannot read folder" in e for e in summary["errors"])
    assert not indexed.get(ELSEWHERE).missing


def test_a_vanished_root_marks_its_records_missing(indexed: DispatchIndex, corpus: Path) -> None:
    shutil.rmtree(corpus / "results-alt")
    summary = indexed.scan()
    assert summary.missing == 1
    assert any("results-alt" in e for e in summary.errors)


def test_scan_given_paths_only(index: DispatchIndex, corpus: Path) -> None:
    summary = index.scan([corpus / "results-alt"])
    assert summary.new == 1
    with pytest.raises(Exception, match="no such directory"):
        index.scan([corpus / "nope"])


@pytest.mark.sqlite_only
def test_database_file_is_private_and_in_wal_mode(indexed: DispatchIndex, home: Path) -> None:
    db_file = home / "data" / "index.sqlite3"
    assert stat.S_IMODE(db_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(db_file.parent.stat().st_mode) == 0o700
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        version = conn.execute(
            "SELECT value FROM index_meta WHERE key = 'schema_version'"
        ).fetchone()[0]
    assert int(version) >= 1


@pytest.mark.sqlite_only
def test_a_deleted_index_is_rebuilt_from_config_and_disk(
    indexed: DispatchIndex, home: Path, manifest
) -> None:
    before = {r.dispatch_id: r.status for r in indexed.list()}
    indexed.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{home}/data/index.sqlite3{suffix}").unlink(missing_ok=True)
    with DispatchIndex() as fresh:
        assert fresh.list() == []
        assert len(fresh.dirs()) == 3  # the roots live in the config file
        fresh.scan()
        assert {r.dispatch_id: r.status for r in fresh.list()} == before


@pytest.mark.sqlite_only
def test_newer_schema_is_refused(indexed: DispatchIndex, home: Path) -> None:
    indexed.close()
    with sqlite3.connect(home / "data" / "index.sqlite3") as conn:
        conn.execute("UPDATE index_meta SET value = '999' WHERE key = 'schema_version'")
    from dispatch_indexer.errors import DatabaseError

    with pytest.raises(DatabaseError, match="newer"):
        DispatchIndex()


@pytest.mark.sqlite_only
def test_garbage_database_file_is_a_clear_error(home: Path) -> None:
    (home / "data").mkdir(parents=True)
    (home / "data" / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    from dispatch_indexer.errors import DatabaseError

    with pytest.raises(DatabaseError, match="cannot open the index"):
        DispatchIndex()


def test_read_dispatch_result_bytes_are_stored(indexed: DispatchIndex, corpus: Path) -> None:
    folder = corpus / "results" / ARITH
    assert indexed.result_bytes(ARITH) == (folder / "result.pkl").read_bytes()
    assert indexed.get(ARITH).sha256 == read_dispatch(folder).record.sha256
