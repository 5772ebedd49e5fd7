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


def context_switches(pid: int | str = "self") -> dict[str, tuple[int, int]]:
    """Voluntary and involuntary context switches of each thread of a
    process, by thread id: a voluntary one is a sleep begun (so a wake-up
    after it), an involuntary one a preemption (more of them on a busy
    machine). Threads that ended meanwhile are not counted."""
    counts: dict[str, tuple[int, int]] = {}
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        found = {}
        try:
            with open(f"{task_dir}/{tid}/status") as fh:
                for line in fh:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        key, value = line.split(":")
                        found[key] = int(value)
        except (OSError, ValueError):
            continue
        counts[tid] = (
            found.get("voluntary_ctxt_switches", 0),
            found.get("nonvoluntary_ctxt_switches", 0),
        )
    return counts
