"""Starting, stopping and asking after the daemon from another process."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from . import db as db_mod
from .errors import AlreadyRunningError, IndexerError, NotRunningError
from .index import DispatchIndex
from .lock import running_pid
from .paths import Paths

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def start_background(paths: Paths, *, home: str | None, db: str | None, log_level: str) -> int:
    """Start ``start --foreground`` detached; its pid once it holds the lock."""
    pid = running_pid(paths)
    if pid is not None:
        raise AlreadyRunningError(f"a daemon is already running for this index (pid {pid})")
    command = [sys.executable, "-m", "dispatch_indexer"]
    if home:
        command += ["--home", home]
    if db:
        command += ["--db", db]
    command += ["start", "--foreground", "--log-level", log_level, "--quiet"]
    child = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # not killed with the terminal that started it
        close_fds=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if running_pid(paths) == child.pid:
            if child.stderr is not None:
                child.stderr.close()
            return child.pid
        code = child.poll()
        if code is not None:
            err = child.stderr.read().decode(errors="replace").strip() if child.stderr else ""
            last = err.splitlines()[-1] if err else f"exit code {code}"
            raise IndexerError(f"the daemon did not start: {last}")
        time.sleep(0.05)
    raise IndexerError(
        f"the daemon did not start within {START_TIMEOUT:.0f}s; see {paths.log_file}"
    )


def stop(paths: Paths, timeout: float = STOP_TIMEOUT) -> int:
    """Ask the running daemon to stop (SIGTERM) and wait until it has."""
    pid = running_pid(paths)
    if pid is None or pid <= 0:
        raise NotRunningError("no daemon is running for this index")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(paths) is None:
            return pid
        time.sleep(0.05)
    raise IndexerError(f"the daemon (pid {pid}) did not stop within {timeout:.0f}s")


def status(index: DispatchIndex) -> dict[str, Any]:
    """What ``status`` shows: the daemon's own report plus the index's counts."""
    paths = index.paths
    pid = running_pid(paths)
    report: dict[str, Any] = {}
    if pid is not None:
        try:
            report = json.loads(paths.status_file.read_text())
        except (OSError, ValueError):
            report = {}
    counts = index.store.count_by_root()
    roots = report.get("roots") or [
        {
            "path": r.path,
            "configured": r.watch,
            "mode": None,
            "exists": os.path.isdir(r.path),
            "problem": None,
        }
        for r in index.config.roots
    ]
    for root in roots:
        root["records"] = counts.get(root["path"], 0)
    started_at = report.get("started_at") if pid else None
    uptime = None
    if started_at:
        started = dt.datetime.fromisoformat(started_at)
        uptime = round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1)
    database: dict[str, Any] = {"url": db_mod.describe(index.url)}
    if db_mod.is_sqlite(index.url):
        file = db_mod.sqlite_path(index.url)
        database["path"] = str(file)
        database["size_bytes"] = sum(
            os.path.getsize(f"{file}{suffix}")
            for suffix in ("", "-wal", "-shm")
            if os.path.exists(f"{file}{suffix}")
        )
    return {
        "running": pid is not None,
        "pid": pid if pid and pid > 0 else None,
        "started_at": started_at,
        "uptime_seconds": uptime,
        "watches": report.get("watches") if pid else None,
        "roots": roots,
        "last_full_scan": report.get("last_full_scan"),
        "database": database,
        "records_by_status": index.store.counts(),
        "degraded": report.get("degraded", []) if pid else [],
    }
