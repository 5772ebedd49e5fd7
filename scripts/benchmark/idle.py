"""Measure: an idle daemon's wake-ups. A real daemon on a small root (the
fixture results, nothing changing), its threads' context switches read from
/proc/<pid>/task/*/status before and after a quiet spell, as wake-ups per
second (voluntary and involuntary switches: a busy machine preempts more);
beside two baselines measured over the same spell: a bare sleeping
Python (the floor) and the previous loop's ticking alone (a 0.2 s queue wait
and a 0.5 s checkpoint thread, without their work), what the daemon did
before it learned to sleep until something is due; and with
``--idle-baseline-ref REF`` the daemon of that commit itself, on the same
root. Target: <= 1 per second."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from dispatch_indexer import DispatchIndex
from dispatch_indexer.daemon.procstats import context_switches

from .common import FIXTURES, REPO, log
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


def _previous_daemon(session: Session, ref: str, root: Path) -> subprocess.Popen[bytes]:
    """The daemon of an earlier commit (``git archive``), on its own home
    with the same root, ready (its first scan done)."""
    code = session.run_dir / f"idle-code-{ref}"
    shutil.rmtree(code, ignore_errors=True)
    code.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "dispatch_indexer"],
        capture_output=True,
        check=True,
    ).stdout
    tar = code / "code.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as opened:
        opened.extractall(code, filter="data")
    home = session.fresh_home(f"idle-{ref}")
    # Run from there: ``-m`` puts the current folder first on sys.path.
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, "-m", "dispatch_indexer", "--home", str(home)]
    subprocess.run(
        [*command, "add-dir", str(root)], env=env, cwd=code, capture_output=True, check=True
    )
    proc = subprocess.Popen(
        [*command, "start", "--foreground", "--quiet"],
        env=env,
        cwd=code,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    status = home / "state" / "daemon-status.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads(status.read_text()).get("last_full_scan") is not None:
                return proc
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    terminate(proc, 5)  # type: ignore[arg-type]
    raise RuntimeError(f"the daemon of {ref} did not start")


def measure(session: Session) -> dict[str, Any]:
    seconds = float(session.args.idle_seconds)
    ref = session.args.idle_baseline_ref
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
        if ref:
            baselines[f"daemon_at_{ref}"] = _previous_daemon(session, ref, root)
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
    for name in figures:
        if name.startswith("daemon_at_"):
            log(f"idle: {name} {figures[name]['wakeups_per_second']:.2f}/s")
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
        **{name: figures[name] for name in figures if name.startswith("daemon_at_")},
        # Judged on the sleeps it ends itself: preemptions (involuntary
        # switches) follow the machine's load, not the daemon's design.
        "target": f"<= {TARGET:g} voluntary wake-up per second",
        "pass": sleeps_ended <= TARGET,
    }
