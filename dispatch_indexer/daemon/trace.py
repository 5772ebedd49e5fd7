"""The daemon's loop seen at DEBUG: what woke it and how late, what each
event queued and why, how late each read came.

Called where the loop decides; each function checks the level first, so
that with DEBUG off the loop pays one check per call and formats nothing.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# A wake-up this much later than the loop asked for is logged even with no
# event: a loop held by something (a slow step, the CPU) shows in the log.
LATE_WAKE = 0.05


def woke(slept: float, asked: float, events: int) -> None:
    if log.isEnabledFor(logging.DEBUG) and (events or slept > asked + LATE_WAKE):
        log.debug(
            "woke after %.1f ms (asked %.1f ms), %d event(s)", slept * 1000, asked * 1000, events
        )


def queued(reads: dict[str, float], folder: str, at: float, now: float, why: str) -> None:
    """``folder`` is to be read at ``at`` because of ``why`` (``reads``: the
    reads already queued, before this one joins them)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    current = reads.get(folder)
    if current is not None and current <= at:
        log.debug(
            "queue %s: due in %.0f ms already (%s)", folder, max(0.0, current - now) * 1000, why
        )
    else:
        log.debug("queue %s: read in %.0f ms (%s)", folder, (at - now) * 1000, why)


def due_reads(reads: dict[str, float], now: float) -> None:
    """The reads about to run, and how long after their time."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    for folder, at in reads.items():
        if at <= now:
            log.debug("read %s: due %.0f ms ago", folder, (now - at) * 1000)
