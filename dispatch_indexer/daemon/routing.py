"""The daemon's event role: each watch event becomes work on the schedule.

A watch backend queues an ``FsEvent``; the loop hands each one here, and
this decides what it means and when to act: read a folder now (its writer
closed result.pkl), later (a backstop, a coalescing window), once it holds
still (a backend that reports no close), or mark it gone. Nothing here reads
a file or writes the index: the loop does that when the work comes due.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from ..read.reader import INFO_FILE, RESULT_FILE
from . import trace
from .roots import Roots
from .schedule import Schedule
from .servers import Servers
from .settle import SETTLE_STEP
from .tally import Tally
from .watch import (
    CLOSED,
    CREATED,
    DELETED,
    GONE,
    MODIFIED,
    MOVED_FROM,
    MOVED_TO,
    OVERFLOW,
    Backends,
    FsEvent,
)

log = logging.getLogger(__name__)


class EventRouter:
    """Turns watch events into reads and removals on the daemon's ``Schedule``."""

    def __init__(
        self,
        work: Schedule,
        roots: Roots,
        backends: Backends,
        servers: Servers,
        tally: Tally,
        coalesce_seconds: Callable[[], float],
    ) -> None:
        self.work = work
        self.roots = roots
        self.backends = backends
        self.servers = servers
        self.tally = tally
        # A getter: the config can be reloaded while the daemon runs.
        self.coalesce_seconds = coalesce_seconds

    def route(self, event: FsEvent, now: float) -> None:
        log.debug("event %s %s%s", event.kind, event.path, " (folder)" if event.is_dir else "")
        if self.servers.on_event(event, now):
            return  # a Covalent server's database or data dir
        if event.kind == OVERFLOW:
            self.tally.lost()
            self.roots.events_lost(now, "inotify queue overflow: events were lost")
            return
        path = event.path
        if event.kind == GONE:
            if path not in self.roots:  # a root itself: the loop's _check_roots sees it
                self.mark_gone(path, now)
            return
        name = os.path.basename(path)
        if name.startswith("."):
            return
        if event.is_dir:
            self._folder_event(event, now)
        elif name in (RESULT_FILE, INFO_FILE):
            self._file_event(event, name, now)

    def _folder_event(self, event: FsEvent, now: float) -> None:
        path = event.path
        if event.kind in (CREATED, MOVED_TO):
            # Looked at once: a new dispatch folder must be watched before
            # its writer closes result.pkl, or that close is not seen.
            self.work.gone.pop(path, None)
            self.read_at(path, now, now, "new folder")
        elif event.kind in (DELETED, MOVED_FROM):
            self.mark_gone(path, now)

    def _file_event(self, event: FsEvent, name: str, now: float) -> None:
        path = event.path
        folder = os.path.dirname(path)
        coalesce = self.coalesce_seconds()
        self.tally.event(folder, now)
        root = self.roots.root_of(path)
        if root is not None and root.settles and event.kind in (CREATED, MODIFIED):
            # No close will come: read it once it holds still.
            log.debug(
                "settle %s: look in %.0f ms (no close-after-write)", folder, SETTLE_STEP * 1000
            )
            self.work.settle_at(folder, now + SETTLE_STEP)
            return
        if event.kind in (CLOSED, MOVED_TO):
            # The writer closed the file: it is whole now, read it at once.
            self.read_at(folder, now, now, f"{name} {event.kind}")
        elif event.kind == CREATED:
            # A close will follow; this is only the backstop if it never does.
            self.read_at(folder, now + max(coalesce, 1.0), now, f"{name} created, backstop")
        elif event.kind in (DELETED, MOVED_FROM) and name == RESULT_FILE:
            self.read_at(folder, now + coalesce, now, f"{name} {event.kind}, coalescing")

    def read_at(self, folder: str, at: float, now: float, why: str) -> None:
        trace.queued(self.work.read, folder, at, now, why)
        self.work.read_at(folder, at)

    def mark_gone(self, path: str, now: float) -> None:
        self.backends.unwatch_under(path)
        # Held back by the coalescing window: a rename shows up as gone here
        # and new there, and the new one should be read first.
        self.work.gone_at(path, now + self.coalesce_seconds())
