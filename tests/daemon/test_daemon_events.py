"""The daemon's loop in-process: lost events, backoff, watch limits, polling.

These drive ``Daemon.loop()`` directly (real inotify, real SQLite) so that
conditions the kernel rarely produces on demand can be injected exactly the
way watchdog reports them.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.daemon.loop import Daemon
from dispatch_indexer.daemon.settle import settle_due
from dispatch_indexer.daemon.watch import MODIFIED, OVERFLOW, FsEvent

from ..daemon_helpers import CovalentWriter, DaemonProcess, get, wait_for


class Clock:
    """A monotonic clock the test can move forward."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def results(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    return folder


@pytest.fixture
def writer() -> CovalentWriter:
    return CovalentWriter()


def make_daemon(results: Path, clock: Clock | None = None, **config: object) -> Daemon:
    with DispatchIndex() as index:
        index.add_dirs([results])
    index = DispatchIndex()
    for key, value in config.items():
        setattr(index.config, key, value)
    daemon = Daemon(index, clock=clock or time.monotonic)
    daemon.start()
    return daemon


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def daemon(results: Path) -> Iterator[Daemon]:
    running = make_daemon(results)
    yield running
    running.stop()


def spin(daemon: Daemon, until, timeout: float = 5.0) -> None:
    """Run loop iterations (real time passing) until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {until}")
        daemon.loop()


def test_overflow_triggers_a_rescan_that_finds_what_was_missed(
    daemon: Daemon, results: Path, writer: CovalentWriter
) -> None:
    # Written while "events were lost": no watch sees it (its events are
    # drained and thrown away here), only a rescan can find it.
    dispatch_id, _ = writer.new_dispatch(results)
    time.sleep(0.1)
    while not daemon.events.empty():
        daemon.events.get_nowait()
    assert get(dispatch_id) is None
    daemon.backends.get("native").on_queue_overflow()  # exactly what watchdog's InotifyFD calls
    daemon.loop()
    assert get(dispatch_id) is not None
    degraded = daemon.status()["degraded"]
    assert any("overflow" in d["detail"] for d in degraded)


def test_overflow_storms_back_off(results: Path, clock: Clock, monkeypatch) -> None:
    daemon = make_daemon(results, clock)
    scans: list[float] = []
    real = daemon.rescans.scan

    def counting(roots, reason, full=False):
        scans.append(clock.now)
        return real(roots, reason, full)

    monkeypatch.setattr(daemon.rescans, "scan", counting)
    for _ in range(60):  # a storm: one overflow every 100 ms for 6 s
        daemon.events.put(FsEvent(OVERFLOW))
        daemon.loop(now=clock.now)
        clock.advance(0.1)
    daemon.stop()
    # Backoff 1, 2, 4 s: a handful of rescans, not sixty.
    assert 2 <= len(scans) <= 5, scans
    gaps = [b - a for a, b in itertools.pairwise(scans)]
    assert all(g2 >= g1 for g1, g2 in itertools.pairwise(gaps))


def test_running_out_of_watches_degrades_one_root_to_polling(
    results: Path, tmp_path: Path, writer: CovalentWriter
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with DispatchIndex() as index:
        index.add_dirs([other])
    for _ in range(3):
        writer.new_dispatch(results, final=False)  # unfinished: each wants a watch
    daemon = make_daemon(results, max_watches=3, poll_interval=0.2)
    try:
        modes = {r["path"]: r["mode"] for r in daemon.status()["roots"]}
        assert modes[str(results)] == "polling"
        assert modes[str(other)] == "native"  # the other root is not poisoned
        assert any(d["what"] == "watch" for d in daemon.status()["degraded"])
        # Polling still captures new dispatches in the degraded root...
        late, _ = writer.new_dispatch(results)
        spin(daemon, lambda: get(late) is not None)
        # ...and native capture goes on in the other.
        native, _ = writer.new_dispatch(other)
        spin(daemon, lambda: get(native) is not None)
    finally:
        daemon.stop()


def test_polling_root_by_configuration(results: Path, writer: CovalentWriter) -> None:
    with DispatchIndex() as index:
        index.add_dirs([results], watch="polling")
    daemon = make_daemon(results, poll_interval=0.2)
    try:
        assert daemon.backends.count == 0
        dispatch_id, folder = writer.new_dispatch(results, final=False)
        spin(daemon, lambda: get(dispatch_id) is not None)
        writer.finish(folder)
        spin(daemon, lambda: get(dispatch_id).status == "COMPLETED")
    finally:
        daemon.stop()


def test_events_for_one_folder_are_coalesced(
    daemon: Daemon, results: Path, writer: CovalentWriter
) -> None:
    reads: list[str] = []
    reader = daemon.index.reader()
    real = reader.read_many

    def counting(tasks):
        reads.extend(t.folder for t in tasks)
        return real(tasks)

    reader.read_many = counting  # type: ignore[method-assign]
    dispatch_id, folder = writer.new_dispatch(results)  # mkdir + 4 writes
    time.sleep(0.2)
    daemon.loop()
    daemon.loop()
    assert get(dispatch_id).status == "COMPLETED"
    assert reads.count(str(folder)) <= 2


@pytest.mark.skipif(
    not os.access("/proc/sys/fs/inotify/max_queued_events", os.W_OK),
    reason="needs a writable /proc/sys/fs/inotify/max_queued_events (root)",
)
def test_a_real_kernel_queue_overflow_is_caught(results: Path, writer: CovalentWriter) -> None:
    knob = Path("/proc/sys/fs/inotify/max_queued_events")
    original = knob.read_text()
    with DispatchIndex() as index:
        index.add_dirs([results])
    knob.write_text("8\n")  # read once, when the daemon's inotify instance is made
    try:
        process = DaemonProcess().start()
    finally:
        knob.write_text(original)
    try:
        # Many events at once, far more than 8 fit in the queue: a burst of
        # folders made by one mkdir (back-to-back syscalls), then dispatches.
        burst = [str(results / f"burst-{i}") for i in range(3000)]
        subprocess.run(["mkdir", *burst], check=True)
        repo = str(Path(__file__).resolve().parents[2])
        script = (
            f"import sys; sys.path.insert(0, {repo!r})\n"
            "from tests.daemon_helpers import CovalentWriter\n"
            "w = CovalentWriter()\n"
            f"ids = [w.new_dispatch({str(results)!r})[0] for _ in range(100)]\n"
            "print('\\n'.join(ids))\n"
        )
        command = [sys.executable, "-c", script]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        ids = out.stdout.split()
        wait_for(lambda: all(get(i) for i in ids), 20, "every dispatch despite the overflow")
        assert "inotify queue overflowed" in process.log()
    finally:
        process.stop()


def test_the_periodic_rescan_catches_a_rewrite_of_a_finished_dispatch(
    results: Path, writer: CovalentWriter, clock: Clock
) -> None:
    dispatch_id, folder = writer.new_dispatch(results)
    daemon = make_daemon(results, clock, rescan_interval=60)
    try:
        assert get(dispatch_id).status == "COMPLETED"
        assert not daemon.roots.is_watched(str(folder))  # finished: not watched
        # Rewritten behind the daemon's back (no watch sees inside the folder).
        writer.finish(folder)  # same status, new bytes
        pkl = folder / "result.pkl"
        pkl.write_bytes(pkl.read_bytes())
        os.utime(pkl, (1, 1))
        before = get(dispatch_id).updated_at
        daemon.loop(now=clock.now)
        assert get(dispatch_id).updated_at == before  # not yet: no event, no rescan due
        clock.advance(61)
        daemon.loop(now=clock.now)
        assert get(dispatch_id).updated_at > before
        assert daemon.status()["last_full_scan"]["reason"] == "periodic"
    finally:
        daemon.stop()


def test_without_a_close_a_file_is_read_once_it_holds_still(
    results: Path, writer: CovalentWriter
) -> None:
    # The observer backend reports no close after a write (FSEvents neither):
    # a changed result.pkl settles by size and mtime before it is read.
    with DispatchIndex() as index:
        index.add_dirs([results], watch="observer")
    daemon = make_daemon(results)
    try:
        (root,) = daemon.roots
        assert root.mode == "observer" and root.settles
        _, folder = writer.new_dispatch(results)
        pkl, key = folder / "result.pkl", str(folder)
        t0 = time.monotonic()
        os.utime(pkl)  # written just now
        daemon.router.route(FsEvent(MODIFIED, str(pkl)), t0)
        assert key in daemon.work.settle and key not in daemon.work.read
        settle_due(daemon.work, t0 + 0.1)  # first look: remembered, not read
        assert key in daemon.work.settle and key not in daemon.work.read
        with pkl.open("ab") as fh:
            fh.write(b"\0")  # still being written: it grew
        settle_due(daemon.work, t0 + 0.2)
        assert key in daemon.work.settle and key not in daemon.work.read
        settle_due(daemon.work, t0 + 0.3)  # unchanged since the last look: read it
        assert key in daemon.work.read and key not in daemon.work.settle
        # An old file (a late, coalesced event) is read at the first look.
        os.utime(pkl, (1, 1))
        daemon.work.read.clear()
        daemon.router.route(FsEvent(MODIFIED, str(pkl)), t0)
        settle_due(daemon.work, t0 + 0.1)
        assert key in daemon.work.read
    finally:
        daemon.stop()
