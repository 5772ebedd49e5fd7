"""Processes: the memory of a process and its children, and a real daemon
(``covalent-indexer start --foreground``) run as a child and watched."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dispatch_indexer.daemon.procstats import inotify_watch_count
from dispatch_indexer.paths import resolve as resolve_paths

from .machine import proc_field

# How often a running daemon's memory (with its reader workers) is sampled.
SAMPLE_SECONDS = 0.25


def proc_memory(pid: int) -> dict[str, int]:
    """VmHWM (peak) and VmRSS (current) of a process, in bytes."""
    out = {}
    for key in ("VmHWM", "VmRSS"):
        value = proc_field(f"/proc/{pid}/status", key)
        if value:
            out[key] = int(value.split()[0]) * 1024
    return out


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the daemon's reader workers)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: fields follow the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_memory(pid: int) -> dict[str, Any]:
    """The process's own VmHWM/VmRSS, and summed over it and its descendants
    (the sum of peaks is an upper bound: the peaks need not coincide)."""
    own = proc_memory(pid)
    others = [proc_memory(child) for child in descendants(pid)]
    others = [m for m in others if m]
    return {
        **own,
        "processes": 1 + len(others),
        "VmRSS_with_children": own.get("VmRSS", 0) + sum(m.get("VmRSS", 0) for m in others),
        "VmHWM_sum_with_children": own.get("VmHWM", 0) + sum(m.get("VmHWM", 0) for m in others),
    }


class DaemonProcess:
    """``covalent-indexer start --foreground --quiet`` as a real child process."""

    def __init__(self, home: Path, log_file: Path) -> None:
        self.home = home
        self.paths = resolve_paths(home)
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_seconds: float | None = None
        # The daemon reads in worker processes that come and go: their memory
        # is sampled, with the daemon's, every SAMPLE_SECONDS while it runs.
        self.sampled_peak_total_rss = 0
        self.sampled_max_processes = 0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._sampling.wait(SAMPLE_SECONDS):
            if self.proc is None or self.proc.poll() is not None:
                return
            memory = tree_memory(self.proc.pid)
            self.sampled_peak_total_rss = max(
                self.sampled_peak_total_rss, memory.get("VmRSS_with_children", 0)
            )
            self.sampled_max_processes = max(self.sampled_max_processes, memory["processes"])

    def sampled(self) -> dict[str, Any]:
        return {
            "sampled_peak_rss_with_workers_bytes": self.sampled_peak_total_rss,
            "sampled_max_processes": self.sampled_max_processes,
            "sample_seconds": SAMPLE_SECONDS,
        }

    def start(self, timeout: float) -> DaemonProcess:
        command = [sys.executable, "-m", "dispatch_indexer", "--home", str(self.home)]
        command += ["start", "--foreground", "--quiet"]
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as err:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
            )
        self._sampling.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if self._ready():
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited ({self.proc.returncode}): {self._tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the daemon was not ready within {timeout:.0f}s")
            time.sleep(0.05)
        self.ready_seconds = time.monotonic() - started
        return self

    def _tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def status(self) -> dict[str, Any]:
        try:
            return json.loads(self.paths.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def _ready(self) -> bool:
        report = self.status()
        return (
            self.proc is not None
            and report.get("pid") == self.proc.pid
            and report.get("running") is not False
            and report.get("last_full_scan") is not None
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def memory(self) -> dict[str, Any]:
        return tree_memory(self.pid)

    def watches(self) -> int:
        return inotify_watch_count(self.pid)

    def log_count(self, text: str) -> int:
        try:
            return self.paths.log_file.read_text(errors="replace").count(text)
        except OSError:
            return 0

    def stop(self) -> None:
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join()
            self._sampler = None
        if self.proc is None or self.proc.poll() is not None:
            return
        terminate(self.proc, 30)


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, as a user's Ctrl-C or systemd would stop it; SIGKILL if it lingers."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
