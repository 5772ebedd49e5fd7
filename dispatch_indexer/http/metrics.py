"""``GET /metrics``: the index and its daemon in Prometheus' text format.

Records by status and host come from the index's count table; what the
daemon took in (files read, rows written, unreadable ones, events lost,
rescans, the live latency from event to row) and its last full scan come
from its status file (``daemon.tally``), since the daemon is another
process. Without a daemon running, only ``covalent_indexer_daemon_up 0``
and the records are shown. The format is small enough to write here.
Behind the same token and Host checks as every route (``guard``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from ..daemon import status as daemon_status
from ..index import DispatchIndex
from .api import Access

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "covalent_indexer"
# The daemon's counters (``Tally.to_json``), as metric names and help.
_COUNTERS = (
    ("read", "files_read_total", "Result files read by the daemon."),
    ("written", "rows_written_total", "Records written by the daemon."),
    ("unreadable", "unreadable_total", "Reads recorded as unreadable."),
    (
        "events_lost",
        "events_lost_total",
        "Times the kernel dropped file events (a rescan follows).",
    ),
    ("rescans", "rescans_total", "Scans of whole roots (full, polling and catch-up)."),
)


def add_routes(app: FastAPI, access: Access) -> None:
    @app.get("/metrics", tags=["service"], response_class=Response)
    def metrics() -> Response:
        """Records by status and host, the daemon's ingest counters, its live
        latency histogram and its last full scan, in Prometheus' text format."""
        text = access(lambda ix: render(*_gather(ix)))
        return Response(text, media_type=CONTENT_TYPE)


def _gather(index: DispatchIndex) -> tuple[dict[tuple[str, str], int], dict[str, Any]]:
    report = daemon_status.gather(index)
    return index.counts_by_host_and_status(), report.daemon if report.pid else {}


def render(records: dict[tuple[str, str], int], daemon: dict[str, Any]) -> str:
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> str:
        full = f"{PREFIX}_{name}"
        out.append(f"# HELP {full} {help_text}")
        out.append(f"# TYPE {full} {kind}")
        return full

    name = family("dispatches", "gauge", "Records in the index, by status and host.")
    for (host, status), count in sorted(records.items()):
        out.append(f'{name}{{status="{_label(status)}",host="{_label(host)}"}} {count}')
    name = family("daemon_up", "gauge", "Whether a daemon keeps this index current.")
    out.append(f"{name} {1 if daemon else 0}")
    ingest = daemon.get("ingest")
    if ingest:
        for key, metric, help_text in _COUNTERS:
            out.append(f"{family(metric, 'counter', help_text)} {int(ingest.get(key, 0))}")
        _histogram(out, family, ingest["latency"])
    scan = daemon.get("last_full_scan") or {}
    if scan.get("time"):
        name = family(
            "last_full_scan_timestamp_seconds", "gauge", "When the last full scan started."
        )
        out.append(f"{name} {dt.datetime.fromisoformat(scan['time']).timestamp():.3f}")
    notifiers = daemon.get("notifiers") or []
    if notifiers:
        name = family("notifications_sent_total", "counter", "Notifications sent, by notifier.")
        for notifier in notifiers:
            out.append(f'{name}{{notifier="{_label(notifier["name"])}"}} {notifier["sent"]}')
    return "\n".join(out) + "\n"


def _histogram(out: list[str], family: Any, latency: dict[str, Any]) -> None:
    name = family(
        "live_latency_seconds", "histogram", "Seconds from a file event to its committed record."
    )
    running = 0
    for bound, count in zip(latency["buckets"], latency["counts"], strict=False):
        running += count
        out.append(f'{name}_bucket{{le="{bound}"}} {running}')
    out.append(f'{name}_bucket{{le="+Inf"}} {latency["count"]}')
    out.append(f"{name}_sum {latency['sum']}")
    out.append(f"{name}_count {latency['count']}")


def _label(value: str) -> str:
    """A label value as the text format wants it escaped."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
