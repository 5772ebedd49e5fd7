"""Real daemon processes for tests, and a writer that saves like Covalent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dispatch_indexer import DispatchIndex, DispatchRecord
from dispatch_indexer.corpus import read_template, with_new_id, write_in_place
from dispatch_indexer.daemon.lock import running_pid
from dispatch_indexer.errors import NotFoundError
from dispatch_indexer.paths import resolve

from .realdata import FIXTURES, SLEEPY


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.02)


def get(dispatch_id: str) -> DispatchRecord | None:
    with DispatchIndex() as index:
        try:
            return index.get(dispatch_id)
        except NotFoundError:
            return None


class DaemonProcess:
    """``covalent-indexer start --foreground`` as a child process."""

    def __init__(
        self, *args: str, home: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        # ``home``: the daemon's COVALENT_INDEXER_HOME when it is not this
        # process's; ``env``: its whole environment.
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.paths = resolve(home)
        self.env = env

    def command(self) -> list[str]:
        """The daemon's command line: ``start --foreground`` at DEBUG."""
        return [
            sys.executable,
            "-m",
            "dispatch_indexer",
            *self.args,
            "start",
            "--foreground",
            "--quiet",
            "--log-level",
            "DEBUG",
        ]

    def start(self, wait: bool = True) -> DaemonProcess:
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=self.env
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        assert self.proc is not None
        wait_for(lambda: self._ready() or self.proc.poll() is not None, 20, "daemon start")
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited: {self.proc.stderr.read().decode()}")

    def _ready(self) -> bool:
        # Ready once it holds the lock and has finished its first scan.
        if self.proc is None or running_pid(self.paths) != self.proc.pid:
            return False
        try:
            report = json.loads(self.paths.status_file.read_text())
        except (OSError, ValueError):
            return False
        return report.get("pid") == self.proc.pid and report.get("last_full_scan") is not None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def log(self) -> str:
        try:
            return self.paths.log_file.read_text()
        except OSError:
            return ""


class CovalentWriter:
    """Writes dispatches the way Covalent 0.110 does, from real fixture bytes."""

    def __init__(self) -> None:
        self.running = read_template(FIXTURES / "snapshots/running" / SLEEPY)
        self.final = read_template(FIXTURES / "results" / SLEEPY)

    def new_dispatch(self, results_dir: Path, final: bool = True) -> tuple[str, Path]:
        """A new dispatch folder: RUNNING first, then (optionally) COMPLETED."""
        dispatch_id, files = with_new_id(self.running)
        folder = Path(results_dir) / dispatch_id
        folder.mkdir(parents=True)
        write_in_place(folder / "result.pkl", files["result.pkl"])
        write_in_place(folder / "result_info.yaml", files["result_info.yaml"])
        if final:
            self.finish(folder)
        return dispatch_id, folder

    def finish(self, folder: Path) -> None:
        _, files = with_new_id(self.final, folder.name)
        write_in_place(folder / "result.pkl", files["result.pkl"])
        write_in_place(folder / "result_info.yaml", files["result_info.yaml"])

    def finished_clone(self, template: Path, results_dir: Path) -> str:
        dispatch_id, files = with_new_id(read_template(template))
        folder = Path(results_dir) / dispatch_id
        folder.mkdir(parents=True)
        for name, data in files.items():
            write_in_place(folder / name, data)
        return dispatch_id


def env_pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
