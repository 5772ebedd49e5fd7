"""The daemon's scanning role: the backstop behind the live watch.

A full scan of every root at start, every ``rescan_interval`` and after the
index was rebuilt; a scan of one root when it is added, appears again, lost
events (an overflow) or is polled. Each runs on the loop's thread through
``Capture.scan``; this keeps when the next full one is due and what the last
one found, for the status file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..config import Config
from ..scan.scanner import ScanInterrupted
from .capture import Capture
from .database import DatabaseHealth
from .notify import Notifier
from .roots import Roots, RootState
from .status import utcnow_iso
from .tally import Tally

log = logging.getLogger(__name__)


class Rescans:
    """When to scan, and the scans themselves; ``last`` is the last full one."""

    def __init__(
        self,
        capture: Capture,
        roots: Roots,
        database: DatabaseHealth,
        tally: Tally,
        notifier: Notifier,
        config: Callable[[], Config],
        sync_roots: Callable[[list[Any]], None],
        clock: Callable[[], float],
    ) -> None:
        self.capture = capture
        self.roots = roots
        self.database = database
        self.tally = tally
        self.notifier = notifier
        # Getters: the config can be reloaded while the daemon runs.
        self.config = config
        self.sync_roots = sync_roots
        self.clock = clock
        self.last: dict[str, Any] | None = None
        self.next_full = 0.0

    def run_due(self, now: float) -> None:
        if now >= self.next_full:
            self.full(now, reason="periodic")
            return
        for root, reason in self.roots.due(now, self.config().poll_interval):
            self.scan([root], reason)

    def full(self, now: float, reason: str) -> None:
        if self.database.refill:
            self.sync_roots(self.config().roots)
            reason = "database recreated"
        self.scan(list(self.roots), reason, full=True)
        self.database.refill = False
        self.next_full = self.clock() + self.config().rescan_interval

    def scan(self, roots: list[RootState], reason: str, full: bool = False) -> None:
        if not roots:
            if full:
                self.last = {"time": utcnow_iso(), "reason": reason, "summary": None}
            return
        started = utcnow_iso()
        began = self.clock()
        try:
            # A poll of a server's root syncs what changed since the last;
            # every other scan of it is the full reconciliation.
            summary = self.capture.scan(roots, full=full or reason != "poll")
        except ScanInterrupted:
            return
        log.debug(
            "%s scan of %d root(s) took %.0f ms", reason, len(roots), (self.clock() - began) * 1000
        )
        self.tally.scanned(summary, full)
        if summary.new or summary.updated or summary.missing:
            self.notifier.wake()
            log.info("%s scan: %s", reason, summary.line())
        if full:
            self.last = {"time": started, "reason": reason, "summary": summary.to_json()}

    def due_now(self, now: float) -> None:
        """Bring the next full scan forward to ``now`` (a rebuilt database)."""
        self.next_full = now
