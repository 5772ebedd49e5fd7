"""Watching folders, one interface over three backends.

``native`` (``inotify``): Linux's inotify, one watch per folder that can
still change, with a watch budget and the kernel's overflow notice.
``observer`` (``observer``): watchdog's observer for the platform (FSEvents
on macOS; on Linux its generic polling observer), one recursive watch per
root. ``polling`` (``polling``): no events, the root is rescanned.

Every backend puts the same ``FsEvent``s on the daemon's ``EventQueue``
(``events``) and says what it cannot promise (``Promises``). ``Backends``
picks one per root (``auto`` takes the best that works here, and says why)
and starts each only when a root needs it: nothing imports inotify until a
root is watched natively, so the daemon runs where inotify does not exist.
"""

from __future__ import annotations

import logging
import sys

from .events import (
    CLOSED,
    CREATED,
    DELETED,
    GONE,
    MODIFIED,
    MOVED_FROM,
    MOVED_TO,
    OVERFLOW,
    Backend,
    BackendUnavailable,
    EventQueue,
    FsEvent,
    Promises,
    Wakeup,
    WatchLimitError,
)
from .polling import PollingBackend

log = logging.getLogger(__name__)

BACKENDS = ("native", "observer", "polling")


class Backends:
    """The backends of one daemon, each started on first use."""

    def __init__(self, events: EventQueue, max_watches: int, platform: str = sys.platform) -> None:
        self.events = events
        self.max_watches = max_watches
        self.platform = platform
        self._started: dict[str, Backend] = {"polling": PollingBackend()}
        self._unavailable: dict[str, str] = {}

    def get(self, name: str) -> Backend:
        """The backend ``name``, started; ``BackendUnavailable`` if it cannot run here."""
        backend = self._started.get(name)
        if backend is not None:
            return backend
        if name in self._unavailable:
            raise BackendUnavailable(self._unavailable[name])
        try:
            backend = self._make(name)
            backend.start()
        except Exception as exc:  # noqa: BLE001 - an import or a start failing alike
            why = str(exc)
            if not isinstance(exc, BackendUnavailable):
                what = "inotify" if name == "native" else "watchdog's observer"
                why = f"{what} cannot load: {exc}"
            self._unavailable[name] = why
            log.warning("the %s backend cannot run here: %s", name, why)
            raise BackendUnavailable(why) from None
        self._started[name] = backend
        return backend

    def _make(self, name: str) -> Backend:
        if name == "native":
            if not self.platform.startswith("linux"):
                raise BackendUnavailable(f"inotify is Linux's; this is {self.platform}")
            from .inotify import NativeWatcher  # fails where the libc has no inotify

            return NativeWatcher(self.events, self.max_watches)
        if name == "observer":
            from .observer import ObserverWatcher

            return ObserverWatcher(self.events, self.platform)
        raise ValueError(f"no watch backend {name!r}")

    def choose(self, configured: str, remote: str | None) -> tuple[Backend, str]:
        """The backend for a root configured ``configured`` ("auto", or a
        backend's name), and why; ``remote``: why its filesystem needs polling."""
        if configured == "polling":
            return self.get("polling"), "configured"
        if configured == "auto" and remote is not None:
            return self.get("polling"), remote
        wanted = [configured] if configured != "auto" else []
        order = wanted + [b for b in self.preferred() if b not in wanted]
        notes = []
        for name in order:
            try:
                backend = self.get(name)
            except BackendUnavailable as exc:
                notes.append(f"{name} unavailable ({exc})")
                continue
            if name == configured:
                return backend, "configured"
            why = "best available here" if not notes else "; ".join(notes)
            return backend, f"auto: {why}" if configured == "auto" else why
        return self.get("polling"), "; ".join(notes)

    def preferred(self) -> list[str]:
        """The backends ``auto`` tries, best first, on this platform."""
        if self.platform.startswith("linux"):
            return ["native", "observer", "polling"]
        return ["observer", "polling"]

    def started(self) -> list[Backend]:
        return list(self._started.values())

    @property
    def count(self) -> int:
        return sum(b.count for b in self._started.values())

    def unwatch(self, path: str) -> None:
        for backend in self._started.values():
            backend.unwatch(path)

    def unwatch_under(self, folder: str) -> None:
        for backend in self._started.values():
            backend.unwatch_under(folder)

    def stop(self) -> None:
        for backend in self._started.values():
            backend.stop()


__all__ = [
    "BACKENDS",
    "CLOSED",
    "CREATED",
    "DELETED",
    "GONE",
    "MODIFIED",
    "MOVED_FROM",
    "MOVED_TO",
    "OVERFLOW",
    "Backend",
    "BackendUnavailable",
    "Backends",
    "EventQueue",
    "FsEvent",
    "Promises",
    "Wakeup",
    "WatchLimitError",
]
