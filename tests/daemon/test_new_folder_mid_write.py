"""A new dispatch folder whose result.pkl is caught mid-write does not hold
the daemon's loop (issue 16: with the real Covalent server, every dispatch
of a run was read 1.3 to 1.8 s late while a scan of one new folder waited
for its file to settle). Real inotify, real SQLite, the loop driven here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.corpus import read_template, with_new_id
from dispatch_indexer.daemon.loop import Daemon

from ..daemon_helpers import CovalentWriter, get, wait_for
from ..realdata import FIXTURES, SLEEPY


@pytest.fixture
def daemon(results: Path) -> Iterator[Daemon]:
    with DispatchIndex() as index:
        index.add_dirs([results])
    running = Daemon(DispatchIndex())
    running.start()
    yield running
    running.stop()


def spin(daemon: Daemon, until, timeout: float = 5.0) -> None:
    """Run loop iterations (real time passing) until ``until()`` holds."""
    wait_for(lambda: daemon.loop() or until(), timeout, "the daemon to get there")


def test_a_new_folder_with_its_result_caught_mid_write_does_not_wait(
    daemon: Daemon, results: Path, writer: CovalentWriter
) -> None:
    dispatch_id, files = with_new_id(read_template(FIXTURES / "results" / SLEEPY))
    folder = results / dispatch_id
    folder.mkdir()
    data = files["result.pkl"]
    root = daemon.roots.root_of(str(folder))
    assert root is not None
    with open(folder / "result.pkl", "wb") as pkl:
        # Covalent's save, half done: the file is there, not yet whole.
        pkl.write(data[: len(data) // 2])
        pkl.flush()
        started = time.monotonic()
        daemon.capture.new_folder(str(folder), root, daemon.clock())
        assert time.monotonic() - started < 0.5  # not the settle window (2 s)
        assert str(folder) in daemon.work.read  # read through the loop instead
        assert root.backend.is_watched(str(folder))
        # Another dispatch saved meanwhile is read at once.
        other, _ = writer.new_dispatch(results)
        spin(daemon, lambda: get(other) is not None and get(other).status == "COMPLETED", 2)
        pkl.write(data[len(data) // 2 :])
    # Its close brings the read of the whole file.
    spin(daemon, lambda: get(dispatch_id) is not None and get(dispatch_id).status == "COMPLETED")
