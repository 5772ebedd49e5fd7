"""Measure: notification delay. A daemon with one ``[[notify]]`` command;
dispatches are saved finished, in place, as Covalent does, one at a time;
for each, when result.pkl was closed, when its final row was first visible
in the index (the live-latency contender, polled here), and when the
notifier's command ran (it stamps the time on stdin's arrival). The figure
is the delay from the final write (the row) to the command, beside the
live latency from the file to the row."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dispatch_indexer import DispatchIndex
from dispatch_indexer import config as config_mod
from dispatch_indexer.corpus import read_template, with_new_id, write_in_place
from dispatch_indexer.notifications import NotifyConfig
from dispatch_indexer.read.reader import RESULT_FILE

from .common import distribution, log
from .database import db_path_of, ro_connect
from .processes import DaemonProcess
from .session import Session

# Stamps CLOCK_MONOTONIC (one clock for every process on Linux) as it starts.
STAMP = """\
import json, os, sys, time
at = time.monotonic()
sys.stdin.read()
with open(sys.argv[1], "a") as out:
    out.write(json.dumps([os.environ["COVALENT_DISPATCH_ID"], at]) + "\\n")
"""
GAP_SECONDS = 0.25
TIMEOUT_SECONDS = 15.0


def measure(session: Session) -> dict[str, Any]:
    args = session.args
    saves = max(5, min(args.live_saves // 5, 100))
    home = session.fresh_home("notify")
    root = home / "results"
    root.mkdir()
    stamps = home / "stamps.jsonl"
    script = home / "stamp.py"
    script.write_text(STAMP)
    with DispatchIndex(home=home) as index:
        index.add_dirs([root])
        index.config.notify = [
            NotifyConfig(
                statuses=["COMPLETED", "FAILED"], command=[sys.executable, str(script), str(stamps)]
            )
        ]
        config_mod.save(index.config, index.paths)
    template = read_template(session.templates.finished[0])
    daemon = DaemonProcess(home, session.run_dir / "logs" / "daemon-notify.stderr")
    daemon.start(timeout=60)
    conn = ro_connect(db_path_of(home))
    to_row: list[float] = []
    to_command: list[float] = []
    row_to_command: list[float] = []
    missed = 0
    try:
        for _ in range(saves):
            dispatch_id, files = with_new_id(template)
            folder = root / dispatch_id
            folder.mkdir()
            write_in_place(folder / RESULT_FILE, files[RESULT_FILE])
            closed = time.monotonic()
            for name in sorted(n for n in files if n != RESULT_FILE):
                write_in_place(folder / name, files[name])
            row_at = _wait_row(conn, dispatch_id, closed + TIMEOUT_SECONDS)
            ran_at = _wait_stamp(stamps, dispatch_id, closed + TIMEOUT_SECONDS)
            if row_at is None or ran_at is None:
                missed += 1
                continue
            to_row.append((row_at - closed) * 1000)
            to_command.append((ran_at - closed) * 1000)
            row_to_command.append((ran_at - row_at) * 1000)
            time.sleep(GAP_SECONDS)
    finally:
        conn.close()
        daemon.stop()
    delay = distribution(row_to_command)
    # Much of the delay is the command's own start: a Python with its imports.
    starts = []
    for _ in range(10):
        t = time.monotonic()
        subprocess.run([sys.executable, "-c", "import json, os, sys, time"], check=True)
        starts.append((time.monotonic() - t) * 1000)
    log(
        f"notify: {len(to_command)}/{saves} notified, final write -> command p50 "
        f"{delay.get('p50', float('nan')):.1f} ms, p99 {delay.get('p99', float('nan')):.1f} ms"
    )
    return {
        "saves": saves,
        "missed": missed,
        "file_to_row_ms": distribution(to_row),
        "row_to_command_ms": delay,
        "file_to_command_ms": distribution(to_command),
        "bare_python_start_ms": distribution(starts),
        "targets": {"row_to_command_p50_ms": "< 500"},
        "pass": bool(delay.get("n")) and delay["p50"] < 500 and missed == 0,
    }


def _wait_row(conn: Any, dispatch_id: str, deadline: float) -> float | None:
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT status FROM dispatch WHERE dispatch_id=?", (dispatch_id,)
        ).fetchone()
        if row is not None and row[0] in ("COMPLETED", "FAILED"):
            return time.monotonic()
        time.sleep(0.0005)
    return None


def _wait_stamp(stamps: Path, dispatch_id: str, deadline: float) -> float | None:
    while time.monotonic() < deadline:
        try:
            for line in stamps.read_text().splitlines():
                found, at = json.loads(line)
                if found == dispatch_id:
                    return float(at)
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    return None


def table_rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """(measure, value, baseline, target, pass) rows for the bench's table."""
    delay, row = m["row_to_command_ms"], m["file_to_row_ms"]
    bare = m["bare_python_start_ms"]["p50"]
    if not delay.get("n"):
        return [("notification delay", "none notified", "-", "< 500 ms", False)]
    return [
        (
            f"notification delay after the final write ({delay['n']} saves) p50",
            f"{delay['p50']:.1f} ms (p99 {delay['p99']:.1f} ms)",
            f"file->row p50 {row['p50']:.1f} ms; the command alone {bare:.1f} ms",
            "< 500 ms",
            m["pass"],
        )
    ]
