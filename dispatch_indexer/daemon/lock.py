"""One daemon per index: an exclusive lock on a file, plus a pid file.

``flock`` locks belong to the open file and vanish when the process dies,
however it dies, so a daemon killed with SIGKILL leaves nothing that blocks
the next start; the pid file is only informative and is rewritten on start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..errors import AlreadyRunningError
from ..paths import Paths, ensure_private_dir


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


class InstanceLock:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._fd: int | None = None

    def acquire(self) -> None:
        ensure_private_dir(self.paths.state_dir)
        fd = os.open(self.paths.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = _read_pid(self.paths.pid_file)
            who = f" (pid {pid})" if pid else ""
            raise AlreadyRunningError(f"a daemon is already running for this index{who}") from None
        self._fd = fd
        _write_private(self.paths.pid_file, f"{os.getpid()}\n")

    def release(self) -> None:
        if self._fd is None:
            return
        if _read_pid(self.paths.pid_file) == os.getpid():
            self.paths.pid_file.unlink(missing_ok=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def running_pid(paths: Paths) -> int | None:
    """The pid of the daemon holding the lock, or None if none holds it."""
    try:
        fd = os.open(paths.lock_file, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(paths.pid_file) or -1
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by its owner only."""
    ensure_private_dir(path.parent)
    _write_private(path, text)
