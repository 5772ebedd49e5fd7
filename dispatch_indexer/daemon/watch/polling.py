"""The ``polling`` backend: no events at all, the root is rescanned every
``poll_interval`` (``Roots.due``). For network filesystems, where kernel
events see only this machine's writes, and the fallback when nothing else
works. It holds no watches, so every call here is a no-op."""

from __future__ import annotations

from .events import Promises


class PollingBackend:
    name = "polling"
    promises = Promises(close_after_write=False, lost_events_reported=False, coalesced=True)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    @property
    def count(self) -> int:
        return 0

    def is_watched(self, path: str) -> bool:
        return False

    def watch(self, path: str, modify: bool = False, recursive: bool = False) -> bool:
        return False

    def unwatch(self, path: str) -> None:
        pass

    def unwatch_under(self, folder: str) -> None:
        pass
