"""The daemon as a real process: live capture, lifecycle, recovery."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatch_indexer import DispatchIndex
from dispatch_indexer import config as config_mod
from dispatch_indexer.cli import app
from dispatch_indexer.daemon.procstats import inotify_watch_count

from ..daemon_helpers import (
    CovalentWriter,
    DaemonProcess,
    env_pid_alive,
    get,
    wait_for,
)
from ..realdata import ARITH, FAILED, FIXTURES

# The capture tests run with watchdog's observer too: on Linux its generic
# (polling) observer, which like macOS's FSEvents reports no close after a
# write and coalesces events, so the code macOS runs is exercised here.
BACKENDS = pytest.mark.parametrize("watch", ["auto", "observer"])


@pytest.fixture
def watch() -> str:
    """How the results root is watched (``auto``: inotify, here)."""
    return "auto"


@pytest.fixture
def daemon(results: Path, watch: str) -> Iterator[DaemonProcess]:
    if watch != "auto":
        # Registering again keeps a root's watch: the config is edited.
        with DispatchIndex() as index:
            index.config.root(str(results)).watch = watch
            config_mod.save(index.config, index.paths)
    process = DaemonProcess().start()
    yield process
    process.stop()


def cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _degraded() -> list[dict]:
    return json.loads(cli("status", "--json"))["degraded"]


@BACKENDS
def test_a_new_dispatch_is_captured_live_and_follows_its_status(
    daemon: DaemonProcess, results: Path, writer: CovalentWriter, watch: str
) -> None:
    dispatch_id, folder = writer.new_dispatch(results, final=False)
    started = time.monotonic()
    record = wait_for(lambda: get(dispatch_id), 5, "the RUNNING record")
    # The observer here polls each second, then lets the file settle.
    assert time.monotonic() - started < (2 if watch == "auto" else 4)
    assert record.status == "RUNNING"
    assert record.source == "watch"
    (root,) = json.loads(cli("status", "--json"))["roots"]
    assert root["backend"] == ("native" if watch == "auto" else watch)
    writer.finish(folder)
    wait_for(lambda: get(dispatch_id).status == "COMPLETED", 5, "the COMPLETED record")
    assert get(dispatch_id).path == str(folder)


@BACKENDS
def test_a_failed_dispatch_and_a_yaml_change(
    daemon: DaemonProcess, results: Path, writer: CovalentWriter
) -> None:
    dispatch_id = writer.finished_clone(FIXTURES / "results" / FAILED, results)
    record = wait_for(lambda: get(dispatch_id), 5, "the FAILED record")
    assert record.status == "FAILED"
    assert record.error is not None and record.error.strip().endswith("the task failed")


@BACKENDS
def test_move_rename_and_delete(
    daemon: DaemonProcess, results: Path, writer: CovalentWriter
) -> None:
    dispatch_id, folder = writer.new_dispatch(results)
    wait_for(lambda: (r := get(dispatch_id)) and r.status == "COMPLETED", 5, "capture")
    archive = results / "archive"
    archive.mkdir()
    moved = archive / dispatch_id
    folder.rename(moved)
    wait_for(lambda: get(dispatch_id).path == str(moved), 5, "the record to follow the move")
    assert not get(dispatch_id).missing
    with DispatchIndex() as index:
        assert sum(1 for r in index.list() if r.dispatch_id == dispatch_id) == 1
    shutil.rmtree(moved)
    wait_for(lambda: get(dispatch_id).missing, 5, "missing after delete")
    assert get(dispatch_id).status == "COMPLETED"  # kept


@BACKENDS
def test_a_whole_results_directory_created_inside_a_root(
    daemon: DaemonProcess, results: Path, tmp_path: Path
) -> None:
    # Built elsewhere, then moved in at once: no events for what is inside.
    staging = tmp_path / "staging" / "project" / "results"
    shutil.copytree(FIXTURES / "results", staging)
    (results / "project").mkdir()
    staging.rename(results / "project" / "results")
    wait_for(lambda: get(ARITH) is not None, 5, "a dispatch inside the moved-in tree")
    with DispatchIndex() as index:
        wait_for(lambda: len(index.list()) == 10, 5, "every dispatch in the tree")


def test_second_start_is_refused(daemon: DaemonProcess) -> None:
    out = cli("start", code=5)
    assert f"already running for this index (pid {daemon.pid})" in out
    second = DaemonProcess().start(wait=False)
    assert second.wait(10) == 5


@pytest.mark.sqlite_only
def test_status_json(daemon: DaemonProcess, results: Path) -> None:
    report = json.loads(cli("status", "--json"))
    assert report["running"] is True
    assert report["pid"] == daemon.pid
    assert report["uptime_seconds"] >= 0
    assert report["roots"] == [
        {
            "path": str(results),
            "configured": "auto",
            "mode": "native",
            "backend": "native",
            "why": "auto: best available here",
            "caveats": [],
            "kind": "results",
            "exists": True,
            "problem": None,
            "records": 0,
        }
    ]
    assert report["last_full_scan"]["reason"] == "start"
    assert report["database"]["size_bytes"] > 0
    assert report["degraded"] == []
    assert "running (pid" in cli("status")
    # dirs says what auto chose, too.
    (root,) = json.loads(cli("dirs", "--json"))
    assert (root["watch"], root["backend"]) == ("auto", "native")
    assert "auto -> native" in cli("dirs")


def test_stop_is_clean_and_quick(daemon: DaemonProcess, results: Path) -> None:
    started = time.monotonic()
    assert f"daemon stopped (pid {daemon.pid})" in cli("stop")
    assert time.monotonic() - started < 5
    assert daemon.wait(5) == 0
    assert json.loads(cli("status", "--json"))["running"] is False
    cli("stop", code=6)


@pytest.mark.sqlite_only
def test_sigterm_mid_burst_leaves_a_sound_index(
    daemon: DaemonProcess, results: Path, writer: CovalentWriter, home: Path
) -> None:
    for _ in range(200):
        writer.new_dispatch(results)
    daemon.signal(signal.SIGTERM)
    started = time.monotonic()
    assert daemon.wait(5) == 0
    assert time.monotonic() - started < 5
    with sqlite3.connect(home / "data" / "index.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@BACKENDS
def test_after_sigkill_the_next_start_catches_up(
    daemon: DaemonProcess, results: Path, writer: CovalentWriter
) -> None:
    first, folder = writer.new_dispatch(results, final=False)
    wait_for(lambda: get(first), 5, "first capture")
    daemon.signal(signal.SIGKILL)
    daemon.wait(5)
    # Meanwhile: one finishes, one is new, one is deleted.
    writer.finish(folder)
    second, _ = writer.new_dispatch(results)
    third, third_folder = writer.new_dispatch(results)
    restarted = DaemonProcess().start()  # the stale lock does not block it
    try:
        assert get(first).status == "COMPLETED"
        assert get(second).status == "COMPLETED"
        shutil.rmtree(third_folder)
        wait_for(lambda: get(third) is None or get(third).missing, 5, "deletion seen")
    finally:
        restarted.stop()


def test_background_start_and_stop(results: Path, home: Path) -> None:
    out = cli("start")
    assert "daemon started (pid" in out
    pid = int(out.split("pid ")[1].split(")")[0])
    try:
        assert env_pid_alive(pid)
        assert "already running" in cli("start", code=5)
        log = home / "logs" / "daemon.log"
        wait_for(log.exists, 5, "the log file")
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
    finally:
        cli("stop")
    wait_for(lambda: not env_pid_alive(pid) or _zombie(pid), 5, "the daemon to exit")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_add_dir_and_remove_dir_reach_a_running_daemon(
    daemon: DaemonProcess, tmp_path: Path, writer: CovalentWriter
) -> None:
    other = tmp_path / "other-results"
    other.mkdir()
    shutil.copytree(FIXTURES / "results" / ARITH, other / ARITH)
    cli("add-dir", str(other))
    wait_for(lambda: get(ARITH), 2.5, "the new root to be scanned")
    dispatch_id, _ = writer.new_dispatch(other)
    wait_for(lambda: get(dispatch_id), 2.5, "live capture in the new root")
    cli("remove-dir", str(other))
    wait_for(
        lambda: str(other) not in json.dumps(json.loads(cli("status", "--json"))["roots"]),
        2.5,
        "the root to be dropped",
    )
    late, _ = writer.new_dispatch(other)
    time.sleep(0.5)  # nothing should arrive: give it the chance to, wrongly
    assert get(late) is None


def test_watch_budget_does_not_grow_with_history(results: Path, writer: CovalentWriter) -> None:
    template = FIXTURES / "results" / ARITH
    for _ in range(2000):
        writer.finished_clone(template, results)
    nested = results / "nested" / "deeper"
    nested.mkdir(parents=True)
    for _ in range(500):
        writer.finished_clone(template, nested)
    running_id, _ = writer.new_dispatch(results, final=False)
    process = DaemonProcess().start()
    try:
        with DispatchIndex() as index:
            wait_for(lambda: len(index.list(limit=3000)) == 2501, 30, "the initial scan")
        # The roots' folders plus the one unfinished dispatch, not 2,501.
        count = inotify_watch_count(process.pid)
        assert 1 <= count <= 10, count
        assert get(running_id).status == "RUNNING"
    finally:
        process.stop()


@BACKENDS
def test_a_vanished_root_comes_back(
    daemon: DaemonProcess, results: Path, writer: CovalentWriter, tmp_path: Path
) -> None:
    dispatch_id, _ = writer.new_dispatch(results)
    wait_for(lambda: get(dispatch_id), 5, "capture")
    aside = tmp_path / "unmounted"
    results.rename(aside)
    wait_for(lambda: get(dispatch_id).missing, 5, "missing while the root is gone")
    wait_for(
        lambda: any("gone" in d["detail"] for d in _degraded()),
        5,
        "status to say the root is gone",
    )
    aside.rename(results)
    wait_for(lambda: not get(dispatch_id).missing, 5, "found again")
    wait_for(lambda: json.loads(cli("status", "--json"))["degraded"] == [], 5, "recovered")
    # And it is watched again.
    again, _ = writer.new_dispatch(results)
    wait_for(lambda: get(again), 5, "live capture after the root came back")


@pytest.mark.sqlite_only
def test_a_deleted_database_is_recreated_and_refilled(
    daemon: DaemonProcess, results: Path, writer: CovalentWriter, home: Path
) -> None:
    ids = [writer.new_dispatch(results)[0] for _ in range(5)]
    wait_for(lambda: all(get(i) for i in ids), 5, "capture")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{home}/data/index.sqlite3{suffix}").unlink(missing_ok=True)
    wait_for(lambda: os.path.exists(home / "data" / "index.sqlite3"), 10, "recreation")
    wait_for(lambda: all(get(i) for i in ids), 10, "refill from the roots")
    wait_for(
        lambda: any(d["what"] == "database" for d in _degraded()),
        5,
        "status to report the recovered database",
    )
    later, _ = writer.new_dispatch(results)
    wait_for(lambda: get(later), 5, "live capture into the new database")
