"""Measure: how long the CLI takes to answer, beside a bare Python start.

``covalent-indexer list --limit 50`` and ``status`` on a small index (the
real fixtures' results folders), each run as a new process, against
``python -c pass`` with the same interpreter: the ratio is what importing the
package and opening the index add to a start. The three are run in turn,
round after round, so that a busy machine slows them alike. Python writes
its bytecode caches first (a warm-up round), as it does for a user after the
first run: compiling sources on every start is not what is measured.
Beside the wall time, each process's CPU time (user + system): on a machine
busy with other work the wall time swells with the wait for a core, the CPU
time much less.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from typing import Any

from dispatch_indexer import DispatchIndex

from .common import FIXTURES, log, spread
from .session import Session

TARGET_RATIO = 5.0
COMMANDS = {
    "list": ["list", "--limit", "50"],
    "status": ["status"],
}


def measure(session: Session) -> dict[str, Any]:
    rounds = 10 if session.args.quick else 30
    home = session.fresh_home("cli-start")
    with DispatchIndex(home=home) as index:
        index.add_dirs([FIXTURES / "results", FIXTURES / "results-alt"])
        summary = index.scan()
    env = {**os.environ, "COVALENT_INDEXER_HOME": str(home)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    runs: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        **{
            name: [sys.executable, "-m", "dispatch_indexer", *args]
            for name, args in COMMANDS.items()
        },
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds + 1):
        for name, argv in runs.items():
            took, used = _run(argv, env)
            if r:  # round 0 writes the bytecode caches
                times[name].append(took)
                cpu[name].append(used)
    base = spread(times["python -c pass"])
    base_cpu = spread(cpu["python -c pass"])
    out: dict[str, Any] = {
        "records": summary.new,
        "rounds": rounds,
        "python": sys.executable,
        "bare_python_seconds": base,
        "bare_python_cpu_seconds": base_cpu,
        "target": f"<= {TARGET_RATIO:g}x a bare Python start",
        "commands": {},
    }
    for name in COMMANDS:
        took = spread(times[name])
        ratio = took["median"] / base["median"]
        used = spread(cpu[name])
        cpu_ratio = used["median"] / base_cpu["median"]
        command = "covalent-indexer " + " ".join(COMMANDS[name])
        out["commands"][name] = {
            "command": command,
            "seconds": took,
            "ratio": ratio,
            "cpu_seconds": used,
            "cpu_ratio": cpu_ratio,
        }
        log(
            f"cli start: {name} {took['median'] * 1000:.0f} ms, bare python "
            f"{base['median'] * 1000:.0f} ms: {ratio:.1f}x (CPU time {cpu_ratio:.1f}x)"
        )
    out["pass"] = all(c["ratio"] <= TARGET_RATIO for c in out["commands"].values())
    return out


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """The wall time of one run, and its CPU time (children are run one at a time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    took = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:])} failed: {done.stderr.decode()[-300:]}")
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, used
