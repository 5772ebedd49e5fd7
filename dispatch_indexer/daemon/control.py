"""Starting and stopping the daemon from another process (its status: ``status``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from ..errors import AlreadyRunningError, IndexerError, NotRunningError
from ..paths import Paths
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
