"""``DispatchIndex.follow`` and ``list --follow``: changes as they are
written, with no daemon running, on both engines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex

from .daemon_helpers import CovalentWriter, wait_for

pytestmark = pytest.mark.engines


def test_follow_yields_new_and_changed_records_once(
    results: Path, writer: CovalentWriter, db_engine: str
) -> None:
    with DispatchIndex() as index:
        before, _ = writer.new_dispatch(results)
        index.scan()
        stop = threading.Event()
        seen: list[tuple[str, str | None]] = []

        def consume() -> None:
            with DispatchIndex() as follower:
                for record in follower.follow(interval=0.05, stop=stop):
                    seen.append((record.dispatch_id, record.status))

        thread = threading.Thread(target=consume)
        thread.start()
        try:
            # The follower's mark is taken once it has opened the index.
            def started() -> bool:
                probe, _ = writer.new_dispatch(results)
                index.scan()
                return wait_for_quietly(lambda: any(found == probe for found, _ in seen), 1.0)

            wait_for(started, 30, "the follower to start")
            dispatch_id, folder = writer.new_dispatch(results, final=False)
            index.scan()
            wait_for(lambda: (dispatch_id, "RUNNING") in seen, 10, "the RUNNING record")
            writer.finish(folder)
            index.scan()
            wait_for(lambda: (dispatch_id, "COMPLETED") in seen, 10, "the COMPLETED record")
        finally:
            stop.set()
            thread.join(10)
    # History is not replayed, and each write is seen once.
    assert all(found != before for found, _ in seen)
    assert seen.count((dispatch_id, "COMPLETED")) == 1


def test_follow_filters_and_from_start(results: Path, writer: CovalentWriter) -> None:
    with DispatchIndex() as index:
        writer.new_dispatch(results)
        running, _ = writer.new_dispatch(results, final=False)
        index.scan()
        stop = threading.Event()
        found = []
        for record in index.follow(from_start=True, status="RUNNING", interval=0.01, stop=stop):
            found.append(record.dispatch_id)
            stop.set()
    assert found == [running]


@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_list_follow_prints_lines_until_ctrl_c(
    results: Path, writer: CovalentWriter, home: Path, fmt: str
) -> None:
    with DispatchIndex() as index:
        index.scan()
    command = [sys.executable, "-m", "dispatch_indexer", "list", "--follow", "--format", fmt]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    lines: list[dict] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if fmt == "jsonl":
                lines.append(json.loads(line))
            else:  # time, id, status, lattice, location: one line each
                _, _, dispatch_id, status, *_ = line.split()
                lines.append({"dispatch_id": dispatch_id, "status": status})

    reader = threading.Thread(target=read)
    reader.start()
    try:
        # The follower's mark is taken once it has opened the index: write
        # until it sees a dispatch, then the one that matters.
        def printed(dispatch_id: str) -> bool:
            return any(line["dispatch_id"] == dispatch_id for line in lines)

        def started() -> bool:
            probe, _ = writer.new_dispatch(results)
            with DispatchIndex() as index:
                index.scan()
            return wait_for_quietly(lambda: printed(probe), 1.0)

        wait_for(started, 30, "list --follow to start")
        dispatch_id, folder = writer.new_dispatch(results, final=False)
        with DispatchIndex() as index:
            index.scan()
            wait_for(lambda: printed(dispatch_id), 10, "the RUNNING line")
            writer.finish(folder)
            index.scan()
        wait_for(
            lambda: any(
                line["dispatch_id"] == dispatch_id and line["status"] == "COMPLETED"
                for line in lines
            ),
            10,
            "the COMPLETED line",
        )
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(10)
        reader.join(5)
    stderr = proc.stderr.read() if proc.stderr else ""
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_list_follow_table_and_refused_formats(cli, results: Path) -> None:
    result = cli("list", "--follow", "--format", "csv", code=2)
    assert "--follow" in result.output


def wait_for_quietly(condition, timeout: float) -> bool:
    try:
        wait_for(condition, timeout)
    except AssertionError:
        return False
    return True
