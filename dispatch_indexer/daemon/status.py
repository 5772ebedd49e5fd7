"""What is wrong, and the one status report.

``DegradedRegistry`` is what the daemon meets and cannot fix by itself (a
root gone, events lost, a locked database...), by key. The daemon writes it
to its status file with the rest of its own view (``daemon_status``), once a
second, for other processes to read.

``Report`` is gathered once, from that file and the index's counts, and
shown two ways: ``status_json`` for the CLI's ``status`` and ``stats_json``
for the HTTP ``GET /api/v1/stats``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import config as config_mod
from ..config import Config, RootConfig
from ..errors import DatabaseError
from ..index import DispatchIndex
from ..paths import Paths, resolve
from ..store import engine as db_mod
from .lock import running_pid, write_private

log = logging.getLogger(__name__)

# An unchanged status is written again this often only (readers work out
# the uptime from ``started_at``): a file replaced every second is a disk
# write, and a wake-up, every second of an idle daemon's life.
STATUS_HEARTBEAT = 60.0


def utcnow_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


# ---- what the daemon meets ---------------------------------------------------


@dataclass
class Degraded:
    what: str
    since: str
    detail: str = ""


class DegradedRegistry:
    """What is wrong now, by key: ``what`` alone (``"database"``) or
    ``what:root`` for one root (``"watch:/data/results"``)."""

    def __init__(self) -> None:
        self._entries: dict[str, Degraded] = {}

    def set(self, key: str, detail: str) -> None:
        """Say ``key`` is wrong; ``since`` is kept from when it first was."""
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = Degraded(what=key.split(":")[0], since=utcnow_iso(), detail=detail)
        else:
            entry.detail = detail

    def clear(self, key: str) -> bool:
        """``key`` is fine again; whether it was wrong."""
        return self._entries.pop(key, None) is not None

    def clear_root(self, path: str) -> None:
        """Every entry about the root ``path`` (it is no longer watched)."""
        for key in [k for k in self._entries if k.endswith(f":{path}")]:
            del self._entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def to_json(self) -> list[dict[str, Any]]:
        return [{"key": k, **asdict(v)} for k, v in self._entries.items()]


def daemon_status(
    *,
    running: bool,
    started_at: dt.datetime,
    url: str,
    watches: int,
    roots: list[dict[str, Any]],
    last_scan: dict[str, Any] | None,
    degraded: DegradedRegistry,
) -> dict[str, Any]:
    """The daemon's own view, as its status file holds it."""
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "running": running,
        "pid": os.getpid(),
        "started_at": started_at.isoformat(),
        "uptime_seconds": round((now - started_at).total_seconds(), 1),
        "updated_at": now.isoformat(),
        "database": db_mod.describe(url),
        "watches": watches,
        "roots": roots,
        "last_full_scan": last_scan,
        "degraded": degraded.to_json(),
    }


class StatusFile:
    """The daemon's status file, for other processes to read: rewritten when
    what it says changes (its uptime aside), or every STATUS_HEARTBEAT."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._written: tuple[str, float] | None = None

    def write(self, report: dict[str, Any], now: float, force: bool = False) -> None:
        moving = ("uptime_seconds", "updated_at")
        same = json.dumps({k: v for k, v in report.items() if k not in moving}, sort_keys=True)
        last = self._written
        if not force and last is not None and last[0] == same and now < last[1] + STATUS_HEARTBEAT:
            return
        try:
            write_private(self.path, json.dumps(report, indent=2))
        except OSError as exc:
            log.warning("cannot write the status file: %s", exc)
            return
        self._written = (same, now)


# ---- the report ------------------------------------------------------------------


@dataclass
class Report:
    """The daemon's status file (if one runs) and the index's counts.

    ``error``: the index database could not be read (then there are no
    counts, and ``records_by_root`` is None)."""

    paths: Paths
    config: Config
    url: str
    pid: int | None
    daemon: dict[str, Any] = field(default_factory=dict)
    records_by_root: dict[str, int] | None = None
    by_status: dict[str, int] = field(default_factory=dict)
    by_host: dict[str, int] = field(default_factory=dict)
    # Bytes in dispatch folders (``DispatchIndex.disk_use``).
    bytes_by_root: dict[str, int] = field(default_factory=dict)
    bytes_by_host: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def collect(url: str | None = None, home: str | os.PathLike[str] | None = None) -> Report:
    """The report on the index that ``url``/``home`` name, even when its
    database cannot be read (then ``error`` says why)."""
    try:
        with DispatchIndex(url, home=home) as index:
            return gather(index)
    except DatabaseError as exc:
        paths = resolve(home)
        return gather_unreachable(paths, config_mod.load(paths, db_override=url), str(exc))


def gather(index: DispatchIndex) -> Report:
    """The report on an open index (``DatabaseError`` if it cannot be read)."""
    report = _started(index.paths, index.config)
    report.records_by_root = index.counts_by_root()
    report.by_status = index.counts()
    report.by_host = index.counts_by_host()
    report.bytes_by_root, report.bytes_by_host = index.disk_use()
    return report


def gather_unreachable(paths: Paths, config: Config, error: str) -> Report:
    """The report when the index database cannot be read (its server is
    down, say): the daemon's own view, which says what it meets, no counts."""
    report = _started(paths, config)
    report.error = error
    return report


def _started(paths: Paths, config: Config) -> Report:
    pid = running_pid(paths)
    daemon = _read_json(paths.status_file)
    if pid is None:
        # A stopped daemon's file still says when it last scanned everything.
        daemon = {"last_full_scan": daemon.get("last_full_scan")}
    scans = [daemon.get("last_full_scan"), _read_json(paths.last_scan_file) or None]
    known = [s for s in scans if isinstance(s, dict) and isinstance(s.get("time"), str)]
    daemon["last_full_scan"] = max(known, key=lambda s: s["time"], default=None)
    return Report(paths, config, config.database_url(paths), pid, daemon)


def record_full_scan(paths: Paths, started: str, summary: dict[str, Any]) -> None:
    """Keep a full scan the ``scan`` command ran, for ``status`` to show."""
    scan = {"time": started, "reason": "scan command", "summary": summary}
    write_private(paths.last_scan_file, json.dumps(scan, indent=2))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def daemon_roots(paths: Paths) -> dict[str, dict[str, Any]]:
    """The running daemon's view of each root (its backend and why), by
    path; empty when no daemon runs."""
    if running_pid(paths) is None:
        return {}
    try:
        roots = json.loads(paths.status_file.read_text()).get("roots") or []
    except (OSError, ValueError, AttributeError):
        return {}
    return {r["path"]: r for r in roots if isinstance(r, dict) and "path" in r}


def _daemon_pid(report: Report) -> int | None:
    pid = report.pid
    return pid if pid and pid > 0 else None


def status_json(report: Report) -> dict[str, Any]:
    """What ``covalent-indexer status --json`` prints."""
    daemon = report.daemon
    running = report.pid is not None
    roots = daemon.get("roots") or [_configured(r) for r in report.config.roots]
    for root in roots:
        counts = report.records_by_root
        root["records"] = None if counts is None else counts.get(root["path"], 0)
    started_at = daemon.get("started_at") if report.pid else None
    uptime = None
    if started_at:
        started = dt.datetime.fromisoformat(started_at)
        uptime = round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1)
    database: dict[str, Any] = {"url": db_mod.describe(report.url), "host": report.config.host_name}
    if db_mod.is_sqlite(report.url):
        file = db_mod.sqlite_path(report.url)
        database["path"] = str(file)
        database["size_bytes"] = sum(
            os.path.getsize(f"{file}{suffix}")
            for suffix in ("", "-wal", "-shm")
            if os.path.exists(f"{file}{suffix}")
        )
    degraded = list(daemon.get("degraded", [])) if report.pid else []
    if report.error is not None:
        database["error"] = report.error
        degraded.append(
            {
                "key": "database",
                "what": "database",
                "since": utcnow_iso(),
                "detail": f"cannot reach the index database: {report.error}",
            }
        )
    return {
        "running": running,
        "pid": _daemon_pid(report),
        "started_at": started_at,
        "uptime_seconds": uptime,
        "watches": daemon.get("watches") if report.pid else None,
        "roots": roots,
        "last_full_scan": daemon.get("last_full_scan"),
        "database": database,
        "records_by_status": report.by_status,
        "records_by_host": report.by_host,
        "degraded": degraded,
        # The daemon's notifiers, each with its last error (``daemon.notify``).
        "notifiers": daemon.get("notifiers", []) if report.pid else [],
        # The last run of the [retention] policy (``daemon.retention``).
        "retention": daemon.get("retention") if report.pid else None,
    }


def _configured(root: RootConfig) -> dict[str, Any]:
    """A registered root as the daemon would show it, when none runs."""
    return {
        "path": root.path,
        "configured": root.watch,
        "mode": None,
        "kind": root.kind,
        "exists": os.path.isdir(root.path),
        "problem": None,
    }


def stats_json(report: Report) -> dict[str, Any]:
    """What ``GET /api/v1/stats`` answers."""
    counts = dict(sorted(report.by_status.items()))
    by_root = report.records_by_root or {}
    return {
        "by_status": counts,
        "by_host": dict(sorted(report.by_host.items())),
        "bytes_by_host": dict(sorted(report.bytes_by_host.items())),
        "total": sum(counts.values()),
        "roots": [
            {
                "path": r.path,
                "watch": r.watch,
                "kind": r.kind,
                "exists": os.path.isdir(r.path),
                "records": by_root.get(r.path, 0),
                "bytes": report.bytes_by_root.get(r.path, 0),
            }
            for r in report.config.roots
        ],
        "daemon": {"running": report.pid is not None, "pid": _daemon_pid(report)},
        "database": db_mod.describe(report.url),
        "generated_at": utcnow_iso(),
    }
