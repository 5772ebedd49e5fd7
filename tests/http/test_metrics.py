"""``GET /metrics`` from a real ``serve`` process over a live daemon."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch_indexer.http.metrics import render

from ..daemon_helpers import CovalentWriter, DaemonProcess, get, wait_for

pytestmark = pytest.mark.engines
TOKEN = "metrics-token-1234"
LATENCY = "covalent_indexer_live_latency_seconds"


@pytest.fixture
def server(home: Path) -> Iterator[str]:
    command = [
        sys.executable,
        *("-m", "dispatch_indexer", "serve", "--port", "0", "--token", TOKEN),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert match, line + (proc.stderr.read() if proc.stderr else "")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


def fetch(url: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_metrics_of_a_live_daemon(
    results: Path, writer: CovalentWriter, server: str, home: Path
) -> None:
    code, _, _ = fetch(f"{server}/metrics")
    assert code == 200
    assert samples(fetch(f"{server}/metrics")[2])["covalent_indexer_daemon_up"] == 0
    daemon = DaemonProcess().start()
    try:
        dispatch_id, folder = writer.new_dispatch(results, final=False)
        wait_for(lambda: get(dispatch_id), 10, "the RUNNING record")
        writer.finish(folder)
        wait_for(lambda: get(dispatch_id).status == "COMPLETED", 10, "the COMPLETED record")

        def live() -> tuple[dict[str, float], str] | None:
            text = fetch(f"{server}/metrics")[2]
            found = samples(text)
            return (found, text) if found.get(f"{LATENCY}_count", 0) >= 1 else None

        try:
            found, text = wait_for(live, 10, "the latencies in /metrics")
        except AssertionError:
            print(fetch(f"{server}/metrics")[2], daemon.paths.status_file.read_text())
            raise
    finally:
        daemon.stop()
    code, content_type, after = fetch(f"{server}/metrics")
    assert samples(after)["covalent_indexer_daemon_up"] == 0
    assert content_type.startswith("text/plain; version=0.0.4")
    host = os.uname().nodename
    assert found[f'covalent_indexer_dispatches{{status="COMPLETED",host="{host}"}}'] == 1
    assert found["covalent_indexer_daemon_up"] == 1
    assert found["covalent_indexer_files_read_total"] >= 1
    assert found["covalent_indexer_rows_written_total"] >= 1
    assert found["covalent_indexer_unreadable_total"] == 0
    assert found["covalent_indexer_events_lost_total"] == 0
    assert found["covalent_indexer_rescans_total"] >= 1
    assert found['covalent_indexer_live_latency_seconds_bucket{le="+Inf"}'] >= 1
    assert found['covalent_indexer_live_latency_seconds_bucket{le="10.0"}'] >= 1
    assert found["covalent_indexer_live_latency_seconds_sum"] > 0
    assert found["covalent_indexer_last_full_scan_timestamp_seconds"] > 1.7e9
    assert "# TYPE covalent_indexer_live_latency_seconds histogram" in text


def test_metrics_need_the_token(server: str) -> None:
    assert fetch(f"{server}/metrics", token=None)[0] == 401
    assert fetch(f"{server}/metrics", token="wrong")[0] == 401


def test_label_values_are_escaped() -> None:
    text = render({('a"b\\c\nd', "FAILED"): 2}, {})
    assert 'covalent_indexer_dispatches{status="FAILED",host="a\\"b\\\\c\\nd"} 2' in text
