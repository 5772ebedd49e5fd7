"""``start --log-level DEBUG``: the path of one dispatch from event to row,
in the log of a real daemon (real inotify, real SQLite)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..daemon_helpers import CovalentWriter, DaemonProcess, get, wait_for


@pytest.fixture
def daemon(results: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess().start()  # at DEBUG (``DaemonProcess.command``)
    yield process
    process.stop()


def _line(log: str, pattern: str, after: int = 0) -> re.Match[str]:
    """The first line at or after ``after`` matching ``pattern``, with its time."""
    match = re.compile(r"^(\S+ \S+) DEBUG \S+: " + pattern, re.M).search(log, after)
    assert match is not None, f"no DEBUG line like {pattern!r} in:\n{log[after:][-3000:]}"
    return match


@pytest.mark.sqlite_only
def test_debug_logs_event_schedule_read_and_write_of_one_dispatch(
    daemon: DaemonProcess, results: Path, writer: CovalentWriter
) -> None:
    # RUNNING first: its folder is then watched, and the COMPLETED save
    # that follows takes the live path (a close, not a scan of a new folder).
    dispatch_id, folder = writer.new_dispatch(results, final=False)
    wait_for(lambda: get(dispatch_id), 10, "the RUNNING record")
    writer.finish(folder)
    wait_for(lambda: get(dispatch_id).status == "COMPLETED", 10, "the COMPLETED record")
    pkl = re.escape(str(folder / "result.pkl"))
    where = re.escape(str(folder))

    def chain() -> bool:
        log = daemon.log()
        return f"{dispatch_id} COMPLETED" in log and "read end" in log

    wait_for(chain, 10, "the DEBUG lines of the COMPLETED write")
    log = daemon.log()
    # The COMPLETED save: its close, the read it queued, the read, the commit.
    write = _line(log, rf"write committed in [\d.]+ ms \(.*\): .*{dispatch_id} COMPLETED")
    closes = [m for m in re.finditer(rf"^.* DEBUG \S+: event closed {pkl}$", log, re.M)]
    assert closes and closes[0].start() < write.start()
    close = [m for m in closes if m.start() < write.start()][-1]
    queued = _line(
        log,
        rf"queue {where}: (read in 0 ms|due in \d+ ms already) \(result\.pkl closed\)",
        close.end(),
    )
    started = _line(log, rf"read start: .*{where}", queued.end())
    ended = _line(
        log,
        rf"read end {where}: COMPLETED, file written \d+ ms before, batch of \d+ in [\d.]+ ms",
        started.end(),
    )
    assert close.start() < queued.start() < started.start() < ended.start() < write.start()
    # Each line carries its time, to the millisecond.
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", ended.group(1))
    # The event woke the loop, and said so.
    assert re.search(r"DEBUG \S+: woke after [\d.]+ ms \(asked [\d.]+ ms\), \d+ event", log)
