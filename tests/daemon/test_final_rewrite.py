"""A finished dispatch written again just after its final read (Covalent
0.110's final saves race on two threads) is read again at once, and its
watch is freed once the file holds still (issue 16)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch_indexer.daemon.procstats import inotify_watch_count

from ..daemon_helpers import CovalentWriter, DaemonProcess, get, wait_for


@pytest.fixture
def daemon(results: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess().start()
    yield process
    process.stop()


def _mtime_ns(folder: Path) -> int:
    return os.stat(folder / "result.pkl").st_mtime_ns


def test_a_final_file_written_again_is_read_again_and_then_unwatched(
    daemon: DaemonProcess, results: Path, writer: CovalentWriter
) -> None:
    roots_only = inotify_watch_count(daemon.pid)
    dispatch_id, folder = writer.new_dispatch(results, final=False)
    wait_for(lambda: get(dispatch_id), 10, "the RUNNING record")
    writer.finish(folder)
    first = _mtime_ns(folder)
    wait_for(lambda: get(dispatch_id).mtime_ns == first, 10, "the first COMPLETED read")
    # The second save must carry a later mtime (the clock behind mtimes is coarse).
    wait_for(lambda: time.time_ns() > first + 20_000_000, 1, "the clock to move on")
    writer.finish(folder)
    last = _mtime_ns(folder)
    assert last != first
    # Read again through its close, long before any rescan would.
    wait_for(lambda: get(dispatch_id).mtime_ns == last, 2, "the read of the last save")
    # Held still for the settle window (2 s): the watch is let go.
    wait_for(lambda: inotify_watch_count(daemon.pid) == roots_only, 10, "the watch freed")
    assert get(dispatch_id).status == "COMPLETED"
