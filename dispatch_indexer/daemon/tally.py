"""What the daemon took in, counted for ``GET /metrics`` (``http.metrics``):
files read and rows written, unreadable ones, events lost, rescans, and the
live latency from a file's event to its row, as a histogram.

Kept in memory by the daemon's loop and written to its status file with the
rest of its view: the HTTP server is another process, and reads it there.
Counters start at zero with each daemon, as Prometheus expects of counters.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from ..records import ScanSummary

# Seconds from a watch event to the committed row (Prometheus' "le" bounds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Folders with an event and no row yet (a server's data dir, a file caught
# mid-write...): the oldest are dropped past this many.
MAX_PENDING = 10_000


class Tally:
    def __init__(self) -> None:
        self.read = 0
        self.written = 0
        self.unreadable = 0
        self.events_lost = 0
        self.rescans = 0
        self.full_scans = 0
        self.bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0
        self._pending: dict[str, float] = {}

    def event(self, folder: str, now: float) -> None:
        """A watch event for ``folder``: its latency runs from the first one."""
        if folder not in self._pending:
            if len(self._pending) >= MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[folder] = now

    def captured(self, records: Iterable[tuple[str, bool]], now: float) -> None:
        """Rows written for these (folder, unreadable) live reads, at ``now``."""
        for folder, unreadable in records:
            self.read += 1
            self.written += 1
            self.unreadable += unreadable
            since = self._pending.pop(folder, None)
            if since is not None:
                self._observe(max(0.0, now - since))

    def settled(self, folders: Iterable[str], still_due: object) -> None:
        """These folders were dealt with (read, or scanned as a new folder)
        unless ``still_due`` holds them: a later event starts afresh."""
        for folder in folders:
            if folder not in still_due:  # type: ignore[operator]
                self._pending.pop(folder, None)

    def scanned(self, summary: ScanSummary, full: bool) -> None:
        changed = summary.new + summary.updated
        self.read += changed
        self.written += changed
        self.unreadable += summary.unreadable
        self.rescans += 1
        self.full_scans += full

    def lost(self) -> None:
        self.events_lost += 1

    def _observe(self, seconds: float) -> None:
        self.bucket_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "written": self.written,
            "unreadable": self.unreadable,
            "events_lost": self.events_lost,
            "rescans": self.rescans,
            "full_scans": self.full_scans,
            "latency": {
                "buckets": list(LATENCY_BUCKETS),
                "counts": list(self.bucket_counts),
                "sum": round(self.latency_sum, 6),
                "count": self.latency_count,
            },
        }
