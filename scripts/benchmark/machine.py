"""The machine a run happened on, and which library code it ran."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import platform
import sqlite3
from importlib import metadata
from pathlib import Path
from typing import Any

import peewee
import watchdog

import dispatch_indexer


def proc_field(path: str, key: str) -> str | None:
    try:
        with open(path) as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def filesystem_of(path: Path) -> dict[str, str]:
    """The mount (fstype, device, mount point) that holds ``path``."""
    target = os.path.realpath(path)
    best = {"fstype": "unknown", "device": "unknown", "mount": "/"}
    best_len = -1
    with contextlib.suppress(OSError), open("/proc/self/mounts") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 3:
                continue
            device, mount, fstype = parts[0], parts[1].replace("\\040", " "), parts[2]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > best_len:
                best = {"fstype": fstype, "device": device, "mount": mount}
                best_len = len(mount)
    return best


def machine(workdir: Path) -> dict[str, Any]:
    mem_kb = proc_field("/proc/meminfo", "MemTotal")
    ram_gb = round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "cpu": proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "ram_gb": ram_gb,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "kernel": f"{platform.system()} {platform.release()}",
        "filesystem": filesystem_of(workdir),
        "peewee": peewee.__version__,
        "watchdog": getattr(watchdog, "__version__", None) or _dist_version("watchdog"),
        "inotify_max_queued_events": _read_int("/proc/sys/fs/inotify/max_queued_events"),
        "inotify_max_user_watches": _read_int("/proc/sys/fs/inotify/max_user_watches"),
    }
    fs = info["filesystem"]
    info["line"] = (
        f"{info['cpu']}, {info['cores']} cores ({usable} usable), {ram_gb} GB RAM, "
        f"{info['python']}, SQLite {info['sqlite']}, {info['kernel']}, "
        f"workdir on {fs['fstype']} ({fs['device']})"
    )
    return info


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def code_fingerprint() -> dict[str, Any]:
    """Which library code ran: a hash of dispatch_indexer's sources and the
    newest file (there is no git here; the tree may change under a long run)."""
    package = Path(dispatch_indexer.__file__).resolve().parent
    digest = hashlib.sha256()
    newest = (0.0, "")
    for file in sorted(package.rglob("*.py")):
        digest.update(str(file.relative_to(package)).encode())
        digest.update(file.read_bytes())
        newest = max(newest, (file.stat().st_mtime, str(file.relative_to(package.parent))))
    return {
        "package": str(package),
        "sha256": digest.hexdigest()[:16],
        "newest_file": newest[1],
        "newest_mtime": dt.datetime.fromtimestamp(newest[0], dt.timezone.utc).isoformat(),
    }
