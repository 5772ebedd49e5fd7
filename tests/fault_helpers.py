"""Helpers for the fault and hostile-input tests: a real daemon whose stderr
goes to a file, writers in their own processes, and reading the index the
way an outsider would (plain sqlite3, no migration, no lock)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dispatch_indexer import DispatchIndex
from dispatch_indexer import config as config_mod
from dispatch_indexer.daemon.lock import running_pid
from dispatch_indexer.paths import db_url_from_env, resolve
from dispatch_indexer.store import engine as db_mod

from .daemon_helpers import DaemonProcess, wait_for

REPO = Path(__file__).resolve().parent.parent


class Daemon(DaemonProcess):
    """``start --foreground`` as a child whose stderr is a file (a pipe
    nobody reads would fill up and block it), run through ``prefix`` (say
    ``setpriv ...``) with extra environment variables."""

    def __init__(
        self,
        stderr_path: Path,
        *args: str,
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(*args)
        self.stderr_path = stderr_path
        self.prefix = list(prefix)
        self.env = env
        self.preexec_fn = preexec_fn

    def start(self, wait: bool = True) -> Daemon:
        command = [*self.prefix, *self.command()]
        env = {**os.environ, **(self.env or {})}
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                preexec_fn=self.preexec_fn,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        assert self.proc is not None
        wait_for(lambda: self._ready() or self.proc.poll() is not None, timeout, "daemon start")
        if self.proc.poll() is not None:
            code = self.proc.returncode
            raise AssertionError(f"daemon exited ({code}): {self.stderr()[-3000:]}")

    def holds_lock(self) -> bool:
        return self.proc is not None and running_pid(self.paths) == self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def report(self) -> dict[str, Any]:
        """The daemon's own status file (what ``status`` shows of it)."""
        try:
            return json.loads(self.paths.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def degraded(self) -> list[dict[str, Any]]:
        return self.report().get("degraded", [])

    def vm_peak_kb(self, field: str = "VmHWM") -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} for {self.proc.pid}")


@contextlib.contextmanager
def running(daemon: Daemon, wait: bool = True) -> Iterator[Daemon]:
    daemon.start(wait=wait)
    try:
        yield daemon
    finally:
        daemon.stop()


def configure(**settings: Any) -> None:
    """Change settings in the config file (as a user editing it would)."""
    with DispatchIndex() as index:
        for key, value in settings.items():
            setattr(index.config, key, value)
        config_mod.save(index.config, index.paths)


def database_file() -> Path:
    url = db_url_from_env()
    return db_mod.sqlite_path(url) if url else resolve().database_file


def _connect(db: Path | None) -> sqlite3.Connection:
    """Read only: a reader that found no file must not create one (with the
    mode SQLite gives, 0644) for the daemon to find."""
    path = quote(str(db or database_file()))
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def rows(db: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every dispatch row, read with plain sqlite3 as any other program would."""
    with contextlib.closing(_connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        found = conn.execute(
            "SELECT dispatch_id, status, unreadable, missing, path, sha256 FROM dispatch"
        ).fetchall()
    return {row["dispatch_id"]: dict(row) for row in found}


def rows_if_readable(db: Path | None = None) -> dict[str, dict[str, Any]]:
    """``rows``, or nothing while the index cannot be read (being rebuilt)."""
    try:
        return rows(db)
    except sqlite3.Error:
        return {}


def count(table: str, db: Path | None = None) -> int:
    with contextlib.closing(_connect(db)) as conn:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def integrity(db: Path | None = None) -> str:
    with contextlib.closing(_connect(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def python(script: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """Run ``script`` in a new interpreter with the repo importable; its
    arguments are in ``ARGS``."""
    prelude = f"import sys; sys.path.insert(0, {str(REPO)!r}); ARGS = sys.argv[1:]\n"
    code = prelude + textwrap.dedent(script)
    popen.setdefault("stdout", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-c", code, *args], text=True, **popen)
