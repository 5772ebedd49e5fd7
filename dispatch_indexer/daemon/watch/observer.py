"""The ``observer`` backend: watchdog's own observer for the platform.

On macOS that is FSEvents (kqueue where FSEvents cannot load), elsewhere
whatever watchdog offers. On Linux, where watchdog's observer would be
inotify again (the ``native`` backend does that better), it is watchdog's
generic observer, the ``PollingObserver`` that watchdog itself falls back to
when inotify cannot load: it is what a Linux machine without inotify gets,
and, like FSEvents, it reports no close after a write and coalesces changes
(it compares snapshots), so running it on Linux exercises the code macOS
runs: files settle by size and mtime, moves and deletions arrive late.

One recursive watch per root (FSEvents is made for that: one stream, no
per-folder budget), plus single folders outside a root when asked (a
Covalent server's database folder). Callbacks only queue ``FsEvent``s.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from ...paths import is_within
from .events import (
    CLOSED,
    CREATED,
    DELETED,
    GONE,
    MODIFIED,
    MOVED_FROM,
    MOVED_TO,
    BackendUnavailable,
    EventQueue,
    FsEvent,
    Promises,
)

log = logging.getLogger(__name__)

# How often the generic (polling) observer compares its snapshots: the
# latency of a root watched this way on Linux, and its wake-ups.
POLL_SECONDS = 1.0
# Elsewhere watchdog's timeout only paces its dispatching thread's wait for
# events (FSEvents and kqueue deliver as things happen, and a stop is queued
# to it): a long one lets that thread sleep while nothing happens.
DISPATCH_WAIT_SECONDS = 30.0


def observer_class(platform: str = sys.platform) -> tuple[Any, str]:
    """watchdog's observer class for ``platform``, and its name.

    Raises ``BackendUnavailable`` when watchdog offers none that loads."""
    try:
        if platform.startswith("linux"):
            from watchdog.observers.polling import PollingObserver

            return PollingObserver, "watchdog's generic polling observer"
        from watchdog.observers import Observer

        return Observer, f"watchdog's {Observer.__name__}"
    except Exception as exc:  # noqa: BLE001 - any import failure means unavailable
        raise BackendUnavailable(f"watchdog's observer cannot load: {exc}") from None


class ObserverWatcher:
    """Recursive watchdog watches, feeding the daemon's queue."""

    name = "observer"
    # FSEvents and the polling observer alike: no close-after-write, changes
    # coalesced, and no notice of lost events.
    promises = Promises(close_after_write=False, lost_events_reported=False, coalesced=True)

    def __init__(self, events: EventQueue, platform: str = sys.platform) -> None:
        self.events = events
        self.cls, self.described = observer_class(platform)
        self.timeout = POLL_SECONDS if platform.startswith("linux") else DISPATCH_WAIT_SECONDS
        self._observer: Any = None
        self._lock = threading.Lock()
        # Watched folder -> (watchdog's ObservedWatch, recursive).
        self._watches: dict[str, tuple[Any, bool]] = {}
        self._handler = _Handler(self)

    def start(self) -> None:
        observer = self.cls(timeout=self.timeout)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(5)
        with self._lock:
            self._watches.clear()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._watches)

    def watched(self) -> list[str]:
        with self._lock:
            return sorted(self._watches)

    def is_watched(self, path: str) -> bool:
        with self._lock:
            return any(
                path == folder or (recursive and is_within(path, folder))
                for folder, (_, recursive) in self._watches.items()
            )

    def watch(self, path: str, modify: bool = False, recursive: bool = False) -> bool:
        """Watch ``path`` (and, if ``recursive``, all below it); every
        write is seen here, so ``modify`` changes nothing."""
        observer = self._observer
        if observer is None:
            return False
        if self._covered(path, recursive):
            return True
        if not os.path.isdir(path):
            return False
        try:
            watch = observer.schedule(self._handler, path, recursive=recursive)
        except OSError as exc:
            log.warning("%s: cannot watch: %s", path, exc.strerror or exc)
            return False
        with self._lock:
            old = self._watches.get(path)
            self._watches[path] = (watch, recursive)
        if old is not None:
            self._unschedule(old[0])
        if recursive:
            # What it covers needs no watch of its own.
            for folder in self.watched():
                if folder != path and is_within(folder, path):
                    self.unwatch(folder)
        return True

    def _covered(self, path: str, recursive: bool) -> bool:
        with self._lock:
            return any(
                (folder == path and (rec or not recursive)) or (rec and is_within(path, folder))
                for folder, (_, rec) in self._watches.items()
            )

    def unwatch(self, path: str) -> None:
        with self._lock:
            entry = self._watches.pop(path, None)
        if entry is not None:
            self._unschedule(entry[0])

    def unwatch_under(self, folder: str) -> None:
        for path in self.watched():
            if is_within(path, folder):
                self.unwatch(path)

    def _unschedule(self, watch: Any) -> None:
        observer = self._observer
        if observer is None:
            return
        try:
            observer.unschedule(watch)
        except (KeyError, OSError):
            pass  # its emitter had stopped already (its folder was deleted)

    def _covers(self, path: str) -> str | None:
        """The watched folder ``path`` is, if any (its deletion is GONE)."""
        with self._lock:
            return path if path in self._watches else None


class _Handler:
    """watchdog's handler protocol (``dispatch``), on the observer's thread:
    translates and queues, nothing more."""

    def __init__(self, owner: ObserverWatcher) -> None:
        self.owner = owner

    def dispatch(self, event: Any) -> None:
        kind = event.event_type
        path = os.fsdecode(event.src_path)
        is_dir = bool(event.is_directory)
        put = self.owner.events.put
        if kind == "moved":
            put(FsEvent(MOVED_FROM, path, is_dir))
            put(FsEvent(MOVED_TO, os.fsdecode(event.dest_path), is_dir))
        elif kind == "created":
            put(FsEvent(CREATED, path, is_dir))
        elif kind == "deleted":
            gone = is_dir and self.owner._covers(path) is not None
            put(FsEvent(GONE if gone else DELETED, path, is_dir))
        elif kind == "modified" and not is_dir:
            # A folder's "modified" only says something inside changed,
            # which comes as its own event.
            put(FsEvent(MODIFIED, path, False))
        elif kind == "closed" and not is_dir:
            put(FsEvent(CLOSED, path, False))
