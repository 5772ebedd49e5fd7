"""The ``native`` backend: Linux's inotify through watchdog's inotify layer,
one folder at a time.

Imported only when a root is watched this way: where inotify does not exist
(macOS, a libc without it) importing this module fails, and nothing else
imports it.

The daemon watches only what can still change: the roots, the folders
between a root and its dispatch folders, and dispatch folders whose status is
not final. Each is one non-recursive inotify watch on one shared inotify
descriptor (watchdog's ``InotifyFD``), so the watch count follows the number
of unfinished dispatches, not the size of the history, and no thread is
started per watch.

The callbacks run on watchdog's reader thread and only put ``FsEvent``s on
the daemon's queue; all reading and writing happens in the daemon's loop.
watchdog's observers drop the kernel's queue-overflow notice (its issue
654); at this layer it reaches ``on_queue_overflow``, which queues an
``OVERFLOW`` event so that the daemon can rescan.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from typing import Any

from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent, InotifyFD

from ...paths import is_within
from .events import (
    CLOSED,
    CREATED,
    DELETED,
    GONE,
    MODIFIED,
    MOVED_FROM,
    MOVED_TO,
    OVERFLOW,
    EventQueue,
    FsEvent,
    Promises,
    WatchLimitError,
)

log = logging.getLogger(__name__)

# What the daemon needs to see in a watched folder. IN_MODIFY is left out on
# purpose: Covalent writes result.pkl in place and IN_CLOSE_WRITE marks the
# moment it is whole; reading on every write would only read it torn.
_MASK = (
    InotifyConstants.IN_CREATE
    | InotifyConstants.IN_CLOSE_WRITE
    | InotifyConstants.IN_MOVED_FROM
    | InotifyConstants.IN_MOVED_TO
    | InotifyConstants.IN_DELETE
    | InotifyConstants.IN_DELETE_SELF
    | InotifyConstants.IN_MOVE_SELF
    | InotifyConstants.IN_ONLYDIR
    | InotifyConstants.IN_DONT_FOLLOW
    | InotifyConstants.IN_EXCL_UNLINK
)

# A database folder's watch sees writes too: a commit in WAL mode only
# appends to the -wal file, which is never closed while the server runs.
_MODIFY_MASK = _MASK | InotifyConstants.IN_MODIFY


class NativeWatcher:
    """Non-recursive inotify watches on single folders, feeding one queue."""

    name = "native"
    promises = Promises(close_after_write=True, lost_events_reported=True, coalesced=False)

    def __init__(self, events: EventQueue, max_watches: int) -> None:
        self.events = events
        self.max_watches = max_watches
        self._fd: InotifyFD | None = None
        self._lock = threading.Lock()
        self._path_by_wd: dict[int, str] = {}
        self._wd_by_path: dict[str, int] = {}
        # Folders watched for writes as well (``watch(modify=True)``).
        self._modify: set[str] = set()
        self._id: Any = id(self)

    def start(self) -> None:
        # Our own descriptor rather than watchdog's shared one: closing it on
        # stop removes every watch at once, and nothing else shares its queue.
        fd = InotifyFD()
        fd.daemon = True
        fd.start()
        self._fd = fd

    def stop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fd.stop()
        with self._lock:
            self._path_by_wd.clear()
            self._wd_by_path.clear()
            self._modify.clear()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._wd_by_path)

    def watched(self) -> list[str]:
        with self._lock:
            return sorted(self._wd_by_path)

    def is_watched(self, path: str) -> bool:
        with self._lock:
            return path in self._wd_by_path

    def watch(self, path: str, modify: bool = False, recursive: bool = False) -> bool:
        """Watch one folder (``modify``: its files' writes too, not only
        their closes); False if it is not there (any more). Never
        ``recursive``: the daemon watches only the folders that can change.

        Raises ``WatchLimitError`` when the kernel or our budget says no.
        """
        fd = self._fd
        if fd is None:
            return False
        with self._lock:
            upgrade = modify and path in self._wd_by_path and path not in self._modify
            if path in self._wd_by_path and not upgrade:
                return True
            if not upgrade and len(self._wd_by_path) >= self.max_watches:
                raise WatchLimitError(errno.ENOSPC, f"watch budget of {self.max_watches} reached")
        if upgrade:
            # inotify replaces a folder's mask when it is watched again.
            self.unwatch(path)
        mask = _MODIFY_MASK if modify or path in self._modify else _MASK
        try:
            wd = fd.add_callback(os.fsencode(path), mask, self, self._id)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EMFILE):
                raise WatchLimitError(exc.errno, str(exc)) from None
            if exc.errno in (
                errno.ENOENT,
                errno.ENOTDIR,
                errno.EACCES,
                errno.ELOOP,
                errno.ENAMETOOLONG,
            ):
                return False
            raise
        with self._lock:
            stale = self._path_by_wd.get(wd)
            if stale is not None and stale != path:
                # The same folder, renamed: inotify hands back the same wd.
                self._wd_by_path.pop(stale, None)
            self._path_by_wd[wd] = path
            self._wd_by_path[path] = wd
            if modify:
                self._modify.add(path)
        return True

    def unwatch(self, path: str) -> None:
        fd = self._fd
        with self._lock:
            wd = self._wd_by_path.pop(path, None)
            if wd is not None:
                self._path_by_wd.pop(wd, None)
            self._modify.discard(path)
        if wd is not None and fd is not None:
            fd.remove_callbacks([(wd, self._id)])

    def unwatch_under(self, folder: str) -> None:
        for path in self.watched():
            if is_within(path, folder):
                self.unwatch(path)

    # ---- watchdog's callback protocol: runs on its thread, only queues ----

    def on_event(self, event: InotifyEvent) -> None:
        with self._lock:
            folder = self._path_by_wd.get(event.wd)
        if folder is None:
            return
        if event.is_delete_self or event.is_move_self:
            self.events.put(FsEvent(GONE, folder, True))
            return
        if not event.name:
            return
        path = os.path.join(folder, os.fsdecode(event.name))
        if event.is_close_write:
            kind = CLOSED
        elif event.is_create:
            kind = CREATED
        elif event.is_moved_to:
            kind = MOVED_TO
        elif event.is_moved_from:
            kind = MOVED_FROM
        elif event.is_delete:
            kind = DELETED
        elif event.is_modify:
            kind = MODIFIED
        else:
            return
        self.events.put(FsEvent(kind, path, event.is_directory))

    def on_watch_deleted(self, wd: int) -> None:
        with self._lock:
            path = self._path_by_wd.pop(wd, None)
            if path is not None and self._wd_by_path.get(path) == wd:
                del self._wd_by_path[path]

    def on_queue_overflow(self) -> None:
        log.warning("inotify queue overflowed: events were lost")
        self.events.put(FsEvent(OVERFLOW))
