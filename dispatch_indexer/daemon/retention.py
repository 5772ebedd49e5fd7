"""The daemon's retention role: the ``[retention]`` policy applied once a
day, and first once the startup scan is done (``retention.prune``).

Runs on the loop's thread, since pruning writes the index and the loop is
its one writer; once a day, it costs the loop one listing and one delete.
"""

from __future__ import annotations

import logging
from typing import Any

from ..index import DispatchIndex
from ..retention import prune
from .status import utcnow_iso

log = logging.getLogger(__name__)

INTERVAL = 24 * 3600.0
# After a failed run (a locked database, a bad policy) it is tried again sooner.
RETRY = 3600.0


class Retention:
    def __init__(self, index: DispatchIndex) -> None:
        self.index = index
        self.next_at: float | None = None
        self.last: dict[str, Any] | None = None

    def run_due(self, now: float, *, first_scan_done: bool) -> None:
        policy = self.index.config.retention
        if not policy.enabled or not first_scan_done:
            return
        if self.next_at is not None and now < self.next_at:
            return
        try:
            report = prune(
                self.index,
                statuses=policy.statuses,
                older_than=policy.older_than or None,
                files=policy.files,
                dry_run=False,
            )
        except Exception as exc:  # noqa: BLE001 - retention never stops the daemon
            log.warning("retention: prune failed: %s", exc)
            self.last = {"time": utcnow_iso(), "removed": 0, "hidden": 0, "error": str(exc)}
            self.next_at = now + RETRY
            return
        if report.removed or report.hidden:
            log.info("retention: %s", report.line())
        self.last = {
            "time": utcnow_iso(),
            "removed": report.removed,
            "hidden": report.hidden,
            "folders": len(report.folders),
            "error": None,
        }
        self.next_at = now + INTERVAL

    def to_json(self) -> dict[str, Any] | None:
        return self.last
