"""The daemon's registered roots: how each is watched, and when each is rescanned.

Each root gets one backend (``watch``): ``native`` (inotify, one watch per
folder that can still change), ``observer`` (watchdog's observer for the
platform, one recursive watch) or ``polling`` (rescanned every
``poll_interval``). ``auto`` polls network and FUSE filesystems, where
kernel events see only this machine's writes, and otherwise takes the best
backend that works here; each root says which it got and why, and what its
backend cannot promise. A root falls back to polling by itself when its
watches run out. Lost events (a queue overflow) ask for a rescan, backed off
so that a storm of them cannot keep the daemon rescanning.

Nothing here reads a folder or writes the database: it answers the daemon's
questions (which root holds a path, which roots are due) and keeps the
watches, and the daemon acts on the answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..config import RootConfig
from ..paths import depth_below, is_within
from ..scan.covalent_pg import is_database_url
from .fsinfo import needs_polling
from .status import DegradedRegistry
from .watch import Backend, Backends, WatchLimitError

log = logging.getLogger(__name__)

# The kinds of root the daemon can follow by events: a results folder (its
# dispatch folders) and a server's data dir (its database and data dir,
# ``daemon.servers``). Every other kind (a client's caches...) is polled.
NATIVE_KINDS = ("results", "covalent-data")

# Rescans triggered by lost events back off so a storm cannot loop them.
BACKOFF_MIN = 1.0
BACKOFF_MAX = 300.0


@dataclass
class RootState:
    path: str
    configured: str
    backend: Backend
    # Why this backend: "configured", or what ``auto`` found.
    why: str = "configured"
    exists: bool = True
    # ``config.ROOT_KINDS``: only ``NATIVE_KINDS`` are ever watched natively.
    kind: str = "results"
    problem: str | None = None
    next_poll: float = 0.0
    rescan_at: float | None = None
    backoff: float = BACKOFF_MIN
    last_trigger: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "configured": self.configured,
            "mode": self.shown_mode,
            "backend": self.mode,
            "why": self.why,
            "caveats": self.caveats(),
            "kind": self.kind,
            "exists": self.exists,
            "problem": self.problem,
        }

    @property
    def mode(self) -> str:
        """The backend's name: "native", "observer" or "polling"."""
        return self.backend.name

    @property
    def settles(self) -> bool:
        """Whether files here settle by size and mtime (no close-after-write)."""
        return self.mode != "polling" and not self.backend.promises.close_after_write

    def caveats(self) -> list[str]:
        if self.mode == "polling":
            return []
        return self.backend.promises.caveats()

    @property
    def shown_mode(self) -> str:
        if self.kind == "covalent-data":
            return f"{self.mode} (Covalent database)"
        return self.mode


class Roots:
    """The roots the daemon watches, by path, and the watches it holds."""

    def __init__(
        self,
        backends: Backends,
        degraded: DegradedRegistry,
        clock: Callable[[], float],
    ) -> None:
        self.backends = backends
        self.degraded = degraded
        self.clock = clock
        self.by_path: dict[str, RootState] = {}

    def __iter__(self) -> Iterator[RootState]:
        return iter(list(self.by_path.values()))

    def __contains__(self, path: object) -> bool:
        return path in self.by_path

    def paths(self) -> list[str]:
        return list(self.by_path)

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.by_path.values()]

    # ---- which root --------------------------------------------------------

    def root_of(self, path: str) -> RootState | None:
        """The innermost root holding ``path``."""
        best = None
        for root in self.by_path.values():
            if is_within(path, root.path) and (best is None or len(root.path) > len(best.path)):
                best = root
        return best

    @staticmethod
    def too_deep(folder: str, root: RootState, max_depth: int) -> bool:
        return depth_below(folder, root.path) > max_depth

    # ---- the configured roots ------------------------------------------------

    def sync(self, wanted_roots: list[RootConfig]) -> list[RootState]:
        """Follow the configuration: drop roots no longer in it, add new ones
        (or ones whose watch mode changed); the roots added, to be scanned."""
        wanted = {r.path: r for r in wanted_roots}
        for path in list(self.by_path):
            if path not in wanted:
                log.info("no longer watching %s", path)
                self.backends.unwatch_under(path)
                del self.by_path[path]
                self.degraded.clear_root(path)
        added = []
        for path, root in wanted.items():
            state = self.by_path.get(path)
            if state is not None and (state.configured, state.kind) == (root.watch, root.kind):
                continue
            if state is not None:
                self.backends.unwatch_under(path)
            state = self._state(root)
            self.by_path[path] = state
            added.append(state)
            log.info("watching %s (%s: %s)", path, state.shown_mode, state.why)
        return added

    def _state(self, root: RootConfig) -> RootState:
        """A root's state, with the backend it gets and why."""
        if root.kind not in NATIVE_KINDS or is_database_url(root.covalent_db or ""):
            # Client caches, and a server whose database is not a file
            # (PostgreSQL): no event can say, each poll syncs them.
            backend, why = self.backends.get("polling"), f"{root.kind}: synced at each poll"
        else:
            remote = needs_polling(root.path, self.backends.platform)
            backend, why = self.backends.choose(root.watch, remote)
        key = f"watch:{root.path}"
        if root.watch not in ("auto", backend.name) and root.kind in NATIVE_KINDS:
            self.degraded.set(key, f"watch = {root.watch!r} cannot run here: {why}")
        else:
            self.degraded.clear(key)
        return RootState(
            path=root.path,
            configured=root.watch,
            backend=backend,
            why=why,
            exists=os.path.isdir(root.path),
            kind=root.kind,
        )

    def appeared_or_vanished(self) -> Iterator[tuple[RootState, str]]:
        """Roots that went away (unmounted, deleted) or came back since the
        last look, each with the reason to scan it (what was there is
        missing until it returns), one at a time as ``due``."""
        for root in self.by_path.values():
            exists = os.path.isdir(root.path)
            if exists == root.exists:
                continue
            root.exists = exists
            if not exists:
                self.degraded.set(f"root:{root.path}", "results directory is gone")
                self.backends.unwatch_under(root.path)
                yield root, "root gone"
            else:
                log.info("%s is back", root.path)
                self.degraded.clear(f"root:{root.path}")
                yield root, "root back"

    # ---- watches -------------------------------------------------------------

    def ensure_watched(self, folder: str, root: RootState) -> None:
        """Watch ``folder`` of ``root`` (the observer: the whole root, once)."""
        if root.mode == "polling":
            return
        recursive = root.mode == "observer"
        target = root.path if recursive else folder
        self.watch_folder(target, root, recursive=recursive)

    def watch_folder(
        self, folder: str, root: RootState, modify: bool = False, recursive: bool = False
    ) -> bool:
        """Watch one folder with ``root``'s backend (it may lie outside the
        root: a server's database folder); False if it could not be."""
        backend = root.backend
        if root.mode == "polling":
            return False
        if backend.is_watched(folder) and not (modify or recursive):
            return True
        try:
            return backend.watch(folder, modify=modify, recursive=recursive)
        except WatchLimitError as exc:
            self.to_polling(root, f"could not add a watch ({exc.strerror}); polling instead")
        except OSError as exc:
            # A path too long for inotify (past PATH_MAX), say: rescans
            # still look there, and one folder must not stop the daemon.
            log.warning("%s: cannot watch: %s", folder, exc.strerror or exc)
        return False

    def is_watched(self, folder: str) -> bool:
        return any(b.is_watched(folder) for b in self.backends.started())

    def release(self, folder: str) -> None:
        """``folder`` holds a finished dispatch: its watch is freed (a
        recursive watch of its root stays)."""
        self.backends.unwatch(folder)

    def watch_found(self, folder: str, root: RootState | None = None) -> None:
        """A scan found ``folder``: watch it if its root is watched by events."""
        state = root or self.root_of(folder)
        if state is not None:
            self.ensure_watched(folder, state)

    def watch_unsettled(self, root: RootState, unsettled: list[str]) -> list[str]:
        """Watch these folders of ``root`` whose dispatches may still change;
        the ones not watched before, which may have changed unseen."""
        if root.mode == "polling":
            return []
        fresh = []
        for folder in unsettled:
            if not root.backend.is_watched(folder):
                self.ensure_watched(folder, root)
                fresh.append(folder)
        return fresh

    def to_polling(self, root: RootState, why: str) -> None:
        if root.mode == "polling":
            return
        log.warning("%s: %s", root.path, why)
        # Free this root's watches so that the other roots keep theirs.
        self.backends.unwatch_under(root.path)
        root.backend = self.backends.get("polling")
        root.why = why
        root.problem = why
        root.next_poll = self.clock()
        self.degraded.set(f"watch:{root.path}", why)

    # ---- rescans -------------------------------------------------------------

    def events_lost(self, now: float, why: str) -> None:
        """The kernel dropped events: rescan every natively watched root."""
        for state in self.by_path.values():
            if state.mode == "native":
                self.request_rescan(state, now, why)

    def request_rescan(self, root: RootState, now: float, why: str) -> None:
        if root.rescan_at is not None:
            return  # one is already due
        # Back off when triggers keep coming; relax after a quiet spell.
        if now - root.last_trigger > BACKOFF_MAX:
            root.backoff = BACKOFF_MIN
        root.rescan_at = max(now, root.last_trigger + root.backoff)
        root.last_trigger = root.rescan_at
        root.backoff = min(root.backoff * 2, BACKOFF_MAX)
        log.warning("%s: %s; rescanning", root.path, why)
        self.degraded.set(f"events:{root.path}", why)

    def due(self, now: float, poll_interval: float) -> Iterator[tuple[RootState, str]]:
        """Roots due for a poll or a requested rescan, each with its reason,
        one at a time: a root is taken off the list only as it is scanned."""
        for root in list(self.by_path.values()):
            if root.rescan_at is None and now - root.last_trigger > BACKOFF_MAX:
                # Quiet for a while since the last lost events: no longer news.
                self.degraded.clear(f"events:{root.path}")
            due_poll = root.mode == "polling" and root.exists and now >= root.next_poll
            due_rescan = root.rescan_at is not None and now >= root.rescan_at
            if due_poll or due_rescan:
                root.rescan_at = None
                root.next_poll = now + poll_interval
                yield root, "rescan" if due_rescan else "poll"

    def next_due(self) -> float | None:
        """When the next poll or requested rescan is due (the loop sleeps till then)."""
        times = [r.rescan_at for r in self.by_path.values() if r.rescan_at is not None]
        times += [r.next_poll for r in self.by_path.values() if r.mode == "polling" and r.exists]
        return min(times, default=None)
