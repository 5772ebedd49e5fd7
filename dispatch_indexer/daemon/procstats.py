"""What /proc says about a running daemon (Linux): its inotify watches and
how often its threads woke. For tests and the benchmark, never the daemon."""

from __future__ import annotations

import os


def inotify_watch_count(pid: int | str = "self") -> int:
    """How many inotify watches a process holds (from /proc/<pid>/fdinfo)."""
    total = 0
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, name)) != "anon_inode:inotify":
                continue
            with open(f"/proc/{pid}/fdinfo/{name}") as fh:
                total += sum(1 for line in fh if line.startswith("inotify wd:"))
        except OSError:
            continue
    return total


def context_switches(pid: int | str = "self") -> dict[str, int]:
    """Voluntary plus involuntary context switches of each thread of a
    process, by thread id: each voluntary one is a sleep ended, a wake-up.
    Threads that ended meanwhile are not counted (read it before and after)."""
    counts: dict[str, int] = {}
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{tid}/status") as fh:
                total = 0
                for line in fh:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            continue
        counts[tid] = total
    return counts
