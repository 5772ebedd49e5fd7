"""What the daemon reads when: folders to read, folders gone, each with the
time it is due.

A plain table the daemon fills from the watcher's events and the capture
fills with its retries; nothing here reads, writes or calls anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Schedule:
    """Folders to read, folders gone, and when each is due."""

    read: dict[str, float] = field(default_factory=dict)
    gone: dict[str, float] = field(default_factory=dict)
    # Reads of a folder in a row that found its result.pkl mid-write.
    attempts: dict[str, int] = field(default_factory=dict)

    def read_at(self, folder: str, at: float) -> None:
        """Read ``folder`` at ``at``, or earlier if it is due earlier already."""
        current = self.read.get(folder)
        if current is None or at < current:
            self.read[folder] = at

    def gone_at(self, folder: str, at: float) -> None:
        """``folder`` is gone: forget what it held at ``at``."""
        self.gone[folder] = at

    def due(self, table: dict[str, float], now: float) -> list[str]:
        """The folders of ``table`` (``read`` or ``gone``) due by ``now``, taken off it."""
        ready = [path for path, at in table.items() if at <= now]
        for path in ready:
            del table[path]
        return ready

    def next_due(self) -> float | None:
        times = list(self.read.values()) + list(self.gone.values())
        return min(times) if times else None
