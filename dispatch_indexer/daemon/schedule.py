"""What the daemon does when: folders to read, to settle, gone, each with
the time it is due; and its periodic roles (``Timers``).

Plain tables the daemon fills from the watcher's events and the capture
fills with its retries; nothing here reads or writes. The loop sleeps until
the earliest time any of them holds (or an event), so an idle daemon wakes
only when something is due.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..records import FileStat

log = logging.getLogger(__name__)


@dataclass
class Schedule:
    """Folders to read, folders gone, and when each is due."""

    read: dict[str, float] = field(default_factory=dict)
    gone: dict[str, float] = field(default_factory=dict)
    # Folders whose result.pkl changed where no close-after-write is
    # reported (``Promises``): read once its size and mtime hold still.
    settle: dict[str, float] = field(default_factory=dict)
    # The (size, mtime_ns) last seen of each folder settling.
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Reads of a folder in a row that found its result.pkl mid-write.
    attempts: dict[str, int] = field(default_factory=dict)
    # Folders read finished, whose watch is freed once their result.pkl
    # has held still this long after that read (``Capture.release_due``),
    # with the (size, mtime_ns, inode) that read found.
    release: dict[str, float] = field(default_factory=dict)
    released_stat: dict[str, FileStat] = field(default_factory=dict)

    def read_at(self, folder: str, at: float) -> None:
        """Read ``folder`` at ``at``, or earlier if it is due earlier already."""
        current = self.read.get(folder)
        if current is None or at < current:
            self.read[folder] = at

    def settle_at(self, folder: str, at: float) -> None:
        """Look at ``folder``'s result.pkl at ``at`` (unless due sooner)."""
        current = self.settle.get(folder)
        if current is None or at < current:
            self.settle[folder] = at

    def release_at(self, folder: str, at: float, stat: FileStat) -> None:
        """Free ``folder``'s watch at ``at`` if its result.pkl is still ``stat``
        then (a later read moves it later)."""
        self.release[folder] = at
        self.released_stat[folder] = stat

    def keep_watch(self, folder: str) -> None:
        """``folder`` is not finished after all: its watch stays."""
        self.release.pop(folder, None)
        self.released_stat.pop(folder, None)

    def gone_at(self, folder: str, at: float) -> None:
        """``folder`` is gone: forget what it held at ``at``."""
        self.gone[folder] = at

    def due(self, table: dict[str, float], now: float) -> list[str]:
        """The folders of ``table`` (``read``, ``gone``, ``release``) due by ``now``,
        taken off it."""
        ready = [path for path, at in table.items() if at <= now]
        for path in ready:
            del table[path]
        return ready

    def next_due(self) -> float | None:
        times = [
            *self.read.values(),
            *self.gone.values(),
            *self.settle.values(),
            *self.release.values(),
        ]
        return min(times) if times else None


@dataclass
class Timer:
    name: str
    interval: float
    action: Callable[[float], object]
    due: float


class Timers:
    """The daemon's periodic roles: each runs on the loop's thread, every
    ``interval`` seconds, and the loop sleeps until the next one is due.

    A new role (a daily retention, notifications...) is one ``add`` in
    ``Daemon.__init__``; its action gets ``now`` and must return quickly
    (long work belongs in steps, one per call)."""

    def __init__(self) -> None:
        self._timers: dict[str, Timer] = {}

    def add(
        self, name: str, interval: float, action: Callable[[float], object], first: float = 0.0
    ) -> None:
        """Run ``action(now)`` at ``first`` and every ``interval`` after it."""
        self._timers[name] = Timer(name, interval, action, first)

    def remove(self, name: str) -> None:
        self._timers.pop(name, None)

    def run_due(self, now: float) -> None:
        for timer in list(self._timers.values()):
            if now >= timer.due:
                # Rescheduled first: an action that raises is not retried in a
                # tight loop (the loop reports the error and goes on).
                timer.due = now + timer.interval
                began = time.monotonic()
                timer.action(now)
                log.debug("timer %s ran in %.1f ms", timer.name, (time.monotonic() - began) * 1000)

    def next_due(self) -> float | None:
        return min((t.due for t in self._timers.values()), default=None)
