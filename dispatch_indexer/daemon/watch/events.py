"""What every watching backend hands the daemon: ``FsEvent``s on one queue.

A backend turns its platform's notices into these few kinds, so the daemon's
loop reads one vocabulary whichever backend a root got. Each backend also
says what it cannot promise (``Promises``): the loop settles a file by size
and modification time where no close-after-write comes, and ``status`` says
so for each root.
"""

from __future__ import annotations

import queue
import select
import socket
from dataclasses import dataclass
from typing import Protocol

CREATED = "created"
CLOSED = "closed"  # written and closed: whole (inotify's IN_CLOSE_WRITE)
MODIFIED = "modified"
MOVED_FROM = "moved_from"
MOVED_TO = "moved_to"
DELETED = "deleted"
GONE = "gone"  # the watched folder itself was deleted or moved away
OVERFLOW = "overflow"  # events were lost: rescan


@dataclass(frozen=True)
class FsEvent:
    kind: str
    path: str = ""
    is_dir: bool = False


@dataclass(frozen=True)
class Promises:
    """What a backend can and cannot say, for the loop and for ``status``."""

    # A close after a write is reported: the file is whole at that moment.
    close_after_write: bool
    # Lost events are reported (an ``OVERFLOW``), so a rescan can follow.
    lost_events_reported: bool
    # Several changes may arrive as one, late (FSEvents, a polling observer).
    coalesced: bool

    def caveats(self) -> list[str]:
        said = []
        if not self.close_after_write:
            said.append("no close-after-write: files settle by size and mtime")
        if self.coalesced:
            said.append("events coalesced")
        if not self.lost_events_reported:
            said.append("lost events unreported: the periodic rescan is the backstop")
        return said


class WatchLimitError(OSError):
    """No more watches can be had (kernel limit or our own budget)."""


class BackendUnavailable(Exception):
    """This backend cannot run here (no inotify, no watchdog observer...)."""


class Backend(Protocol):
    """One way of watching folders; every method runs on the daemon's thread."""

    name: str
    promises: Promises

    def start(self) -> None: ...
    def stop(self) -> None: ...

    @property
    def count(self) -> int: ...

    def is_watched(self, path: str) -> bool: ...

    def watch(self, path: str, modify: bool = False, recursive: bool = False) -> bool:
        """Watch one folder (False if it is not there); ``WatchLimitError``
        when no more watches can be had."""
        ...

    def unwatch(self, path: str) -> None: ...
    def unwatch_under(self, folder: str) -> None: ...


class Wakeup:
    """A socket pair the daemon's loop sleeps on: events, timers and signals
    wake it.

    Not a condition variable: a signal handler may not take a lock, but the
    interpreter itself writes to this socket as a signal arrives
    (``signal.set_wakeup_fd``). A socket, not a pipe, so that ``select``
    and ``set_wakeup_fd`` take it on every platform.
    """

    def __init__(self) -> None:
        self._recv, self._send = socket.socketpair()
        self._recv.setblocking(False)
        self._send.setblocking(False)

    @property
    def write_fd(self) -> int:
        return self._send.fileno()

    def notify(self) -> None:
        try:
            self._send.send(b"\0")
        except OSError:
            pass  # full (a wake-up is pending anyway) or closed (stopping)

    def wait(self, timeout: float) -> None:
        ready, _, _ = select.select([self._recv], [], [], max(0.0, timeout))
        if ready:
            self.drain()

    def drain(self) -> None:
        try:
            while self._recv.recv(4096):
                pass
        except OSError:
            pass


class EventQueue:
    """The daemon's one queue: backends put on it from their threads (and
    only that), and each put wakes the loop."""

    def __init__(self, wakeup: Wakeup | None = None) -> None:
        self._queue: queue.Queue[FsEvent] = queue.Queue()
        self.wakeup = wakeup or Wakeup()

    def put(self, event: FsEvent) -> None:
        self._queue.put(event)
        self.wakeup.notify()

    def get_nowait(self) -> FsEvent:
        """Raises ``queue.Empty``."""
        return self._queue.get_nowait()

    def empty(self) -> bool:
        return self._queue.empty()

    def wait(self, timeout: float) -> None:
        """Sleep until an event, a wake-up or ``timeout``."""
        if self._queue.empty():
            self.wakeup.wait(timeout)
        else:
            self.wakeup.drain()
