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

from ..config import Config
from ..errors import AlreadyRunningError, IndexerError, NotRunningError
from ..index import DispatchIndex
from ..paths import Paths
from ..store import engine as db_mod
from .lock import running_pid

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
    return _report(index.paths, index.config, index.url, index=index)


def status_unreachable(paths: Paths, config: Config, url: str, error: str) -> dict[str, Any]:
    """``status`` when the index database cannot be opened (its server is
    down, say): the daemon's own report, which says what it meets, without
    counts, and the error as a degraded entry."""
    return _report(paths, config, url, error=error)


def _report(
    paths: Paths,
    config: Config,
    url: str,
    *,
    index: DispatchIndex | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    pid = running_pid(paths)
    report: dict[str, Any] = {}
    if pid is not None:
        try:
            report = json.loads(paths.status_file.read_text())
        except (OSError, ValueError):
            report = {}
    counts = index.counts_by_root() if index is not None else {}
    roots = report.get("roots") or [
        {
            "path": r.path,
            "configured": r.watch,
            "mode": None,
            "exists": os.path.isdir(r.path),
            "problem": None,
        }
        for r in config.roots
    ]
    for root in roots:
        root["records"] = counts.get(root["path"], 0) if index is not None else None
    started_at = report.get("started_at") if pid else None
    uptime = None
    if started_at:
        started = dt.datetime.fromisoformat(started_at)
        uptime = round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1)
    database: dict[str, Any] = {"url": db_mod.describe(url), "host": config.host_name}
    if db_mod.is_sqlite(url):
        file = db_mod.sqlite_path(url)
        database["path"] = str(file)
        database["size_bytes"] = sum(
            os.path.getsize(f"{file}{suffix}")
            for suffix in ("", "-wal", "-shm")
            if os.path.exists(f"{file}{suffix}")
        )
    degraded = list(report.get("degraded", [])) if pid else []
    if error is not None:
        database["error"] = error
        degraded.append(
            {
                "key": "database",
                "what": "database",
                "since": dt.datetime.now(dt.timezone.utc).isoformat(),
                "detail": f"cannot reach the index database: {error}",
            }
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
        "records_by_status": index.counts() if index is not None else {},
        "records_by_host": index.counts_by_host() if index is not None else {},
        "degraded": degraded,
    }
