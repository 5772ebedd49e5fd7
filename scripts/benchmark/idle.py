"""Measure: an idle daemon's wake-ups. A real daemon on a small root (the
fixture results, nothing changing), its threads' context switches read from
/proc/<pid>/task/*/status before and after a quiet spell, as wake-ups per
second (voluntary and involuntary switches: a busy machine preempts more);
beside two baselines measured over the same spell: a bare sleeping
Python (the floor) and the previous loop's ticking alone (a 0.2 s queue wait
and a 0.5 s checkpoint thread, without their work), what the daemon did
before it learned to sleep until something is due. Target: <= 1 per second."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from dispatch_indexer import DispatchIndex
from dispatch_indexer.daemon.procstats import context_switches

from .common import FIXTURES, log
from .processes import DaemonProcess, terminate
from .session import Session

TARGET = 1.0

BARE_SLEEP = "import time; time.sleep({seconds})"
PREVIOUS_TICKS = """\
import queue, threading, time
events, stop = queue.Queue(), threading.Event()
def checkpoint():
    while not stop.wait(0.5):
        pass
threading.Thread(target=checkpoint, daemon=True).start()
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    try:
        events.get(timeout=0.2)
    except queue.Empty:
        pass
"""


def _threads(pid: int) -> dict[str, str]:
    names = {}
    for tid in context_switches(pid):
        try:
            names[tid] = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
    return names


Switches = dict[str, tuple[int, int]]


def _delta(before: Switches, after: Switches, tid: str) -> tuple[int, int]:
    # A thread started meanwhile counts from zero; one that ended is lost
    # (none should, in an idle process).
    old = before.get(tid, (0, 0))
    return after[tid][0] - old[0], after[tid][1] - old[1]


def _wakeups(before: Switches, after: Switches, seconds: float) -> dict[str, Any]:
    deltas = [_delta(before, after, tid) for tid in after]
    voluntary = sum(d[0] for d in deltas)
    involuntary = sum(d[1] for d in deltas)
    total = voluntary + involuntary
    return {
        "wakeups": total,
        "voluntary": voluntary,
        "involuntary": involuntary,
        "seconds": round(seconds, 2),
        "wakeups_per_second": round(total / seconds, 2),
        "voluntary_per_second": round(voluntary / seconds, 2),
        "threads": len(after),
    }


def measure(session: Session) -> dict[str, Any]:
    seconds = float(session.args.idle_seconds)
    root = session.run_dir / "idle-results"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(FIXTURES / "results", root)
    home = session.fresh_home("idle")
    with DispatchIndex(home=home) as index:
        index.add_dirs([root])
    daemon = DaemonProcess(home, session.run_dir / "logs" / "daemon-idle.stderr")
    baselines: dict[str, subprocess.Popen[bytes]] = {}
    try:
        daemon.start(timeout=60)
        # Its start-up (the first scan, the reader warmed) is not idleness.
        time.sleep(min(2.0, seconds))
        run_for = seconds + 5
        for name, script in (("bare_sleep", BARE_SLEEP), ("previous_ticks", PREVIOUS_TICKS)):
            code = script.format(seconds=run_for)
            baselines[name] = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(0.5)  # the baselines' own start-up is not idleness either
        pids = {"daemon": daemon.pid, **{name: p.pid for name, p in baselines.items()}}
        log(f"idle: counting wake-ups of the daemon and two baselines for {seconds:g}s")
        before = {name: context_switches(pid) for name, pid in pids.items()}
        started = time.monotonic()
        time.sleep(seconds)
        after = {name: context_switches(pid) for name, pid in pids.items()}
        elapsed = time.monotonic() - started
        names = _threads(daemon.pid)
    finally:
        for proc in baselines.values():
            terminate(proc, 5)  # type: ignore[arg-type]
        daemon.stop()
    figures = {name: _wakeups(before[name], after[name], elapsed) for name in pids}
    daemon_figures = figures["daemon"]
    per_thread = {
        f"{names.get(tid, '?')} ({tid})": _delta(before["daemon"], after["daemon"], tid)
        for tid in after["daemon"]
    }
    daemon_figures["per_thread"] = per_thread
    rate = daemon_figures["wakeups_per_second"]
    sleeps_ended = daemon_figures["voluntary_per_second"]
    log(
        f"idle: daemon {rate:.2f}/s ({daemon_figures['voluntary_per_second']:.2f}/s voluntary), "
        f"bare sleep "
        f"{figures['bare_sleep']['wakeups_per_second']:.2f}/s, previous ticks "
        f"{figures['previous_ticks']['wakeups_per_second']:.2f}/s"
    )
    return {
        "root_dispatches": sum(1 for p in root.iterdir() if p.is_dir()),
        "daemon": daemon_figures,
        "bare_sleep": figures["bare_sleep"],
        "previous_ticks": figures["previous_ticks"],
        # Judged on the sleeps it ends itself: preemptions (involuntary
        # switches) follow the machine's load, not the daemon's design.
        "target": f"<= {TARGET:g} voluntary wake-up per second",
        "pass": sleeps_ended <= TARGET,
    }
