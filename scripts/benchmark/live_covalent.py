"""The ``live-covalent`` measure of scripts/bench (issue 16): the daemon's
live latency with the real writer, the Covalent 0.110.2 server.

Run it with ``scripts/bench --only live-covalent`` (``--quick`` for fewer
runs). It needs the Covalent venv (``covalent_venv``; skipped when none can be
built). ``covalent start --no-cluster`` runs with HOME, the XDG folders and
Covalent's config in a scratch folder under the workdir, and is stopped (its
whole process group killed) at the end, even on failure.

Each run dispatches ``DISPATCHES`` workflows at once into a results folder
the daemon (at DEBUG) watches. Once each dispatch's ``result.pkl`` has held
still, its last write (its mtime) is compared with the daemon's read of that
very file (the row's ``read_at``, with the row's mtime the file's): the
delay. Runs alternate with and without load (two processes spinning on the
cores); the target is every final file read within 250 ms of its last write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w

from dispatch_indexer.paths import ensure_private_dir, resolve

from .common import distribution, log
from .covalent_venv import covalent_python
from .database import db_path_of, ro_connect
from .processes import DaemonProcess, free_port
from .session import Session

VERSION, CLOUDPICKLE = "0.110.2", "3.1.2"
DISPATCHES = 6
TARGET_MS = 250.0
FINAL = ("COMPLETED", "FAILED", "CANCELLED")
# A result.pkl that has not changed for this long is the final one.
QUIET_SECONDS = 1.0
RUN_TIMEOUT = 120.0
# How long after a run's files hold still their reads are waited for: a file
# not read by then is reported unread (the periodic rescan reads it later).
UNREAD_SECONDS = 10.0

CLIENT = """
import json, sys, time
import covalent as ct

results_dir, count = sys.argv[1], int(sys.argv[2])

@ct.electron
def step(x):
    time.sleep(0.05)
    return x + 1

@ct.electron
def join(a, b):
    return a + b

@ct.lattice(results_dir=results_dir)
def workflow(x):
    return step(join(step(x), step(x + 1)))

print(json.dumps([ct.dispatch(workflow)(i) for i in range(count)]))
"""


def measure(session: Session) -> dict[str, Any]:
    """Loaded and unloaded runs against one daemon and one Covalent server."""
    quick = session.args.quick
    loaded_runs, unloaded_runs = (2, 1) if quick else (10, 3)
    python = covalent_python(session.workdir, VERSION, CLOUDPICKLE)
    if python is None:
        return {"skipped": f"no venv with Covalent {VERSION} could be built"}
    work = session.run_dir / "live-covalent"
    results = work / "results"
    results.mkdir(parents=True)
    env = _scratch_env(work / "covalent-home", python)
    home = work / "indexer-home"
    config = resolve(home).config_file
    ensure_private_dir(config.parent)
    settings = {"log_level": "DEBUG", "roots": [{"path": str(results)}]}
    config.write_bytes(tomli_w.dumps(settings).encode())
    daemon = DaemonProcess(home, work / "daemon.stderr")
    port = free_port()
    server: subprocess.Popen[bytes] | None = None
    runs: list[dict[str, Any]] = []
    try:
        daemon.start(60)
        server = _start_server(python, port, env, work)
        plan = ["unloaded"] * unloaded_runs + ["loaded"] * loaded_runs
        for number, kind in enumerate(plan, 1):
            run = _run_once(python, env, work, results, daemon, kind == "loaded", number)
            runs.append(run)
            every = ", ".join(f"{d:.0f}" for d in run["delays_ms"])
            unread = f", {len(run['unread'])} unread after {UNREAD_SECONDS:g} s"
            log(
                f"live-covalent {number}/{len(plan)} ({kind}, load {run['load_average']:.2f}): "
                f"worst {run['worst_ms']:.0f} ms, all {every} ms{unread if run['unread'] else ''}"
            )
    finally:
        if server is not None:
            _stop_server(python, env, server)
        daemon.stop()
    loaded = [r for r in runs if r["loaded"]]
    unloaded = [r for r in runs if not r["loaded"]]
    worst_loaded = max((r["worst_ms"] for r in loaded), default=float("nan"))
    return {
        "covalent": VERSION,
        "dispatches_per_run": DISPATCHES,
        "loaded": _summary(loaded),
        "unloaded": _summary(unloaded),
        "target": f"every final result.pkl read <= {TARGET_MS:.0f} ms after its last write, loaded",
        "pass": bool(loaded) and worst_loaded <= TARGET_MS,
        "daemon_log": str(resolve(home).log_file),
        "runs": runs,
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    delays = [d for r in runs for d in r["delays_ms"]]
    return {
        "runs": len(runs),
        "worst_per_run_ms": [round(r["worst_ms"], 1) for r in runs],
        "runs_over_target": sum(r["worst_ms"] > TARGET_MS for r in runs),
        "unread": sum(len(r["unread"]) for r in runs),
        "delays_ms": distribution(delays),
    }


def _scratch_env(scratch: Path, python: Path) -> dict[str, str]:
    """Covalent's environment: every home it knows of in ``scratch``, never the real one."""
    scratch.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COVALENT", "XDG_"))}
    env["HOME"] = str(scratch)
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[var] = str(scratch / var.lower())
    env["XDG_CONFIG_DIR"] = env["XDG_CONFIG_HOME"]  # the name Covalent 0.110 reads
    env["COVALENT_CONFIG_DIR"] = str(scratch / "covalent-config")
    # `covalent start` runs the server as "python app.py" through a shell.
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    return env


def _start_server(
    python: Path, port: int, env: dict[str, str], work: Path
) -> subprocess.Popen[bytes]:
    """``covalent start --no-cluster`` in a session of its own (so that the
    server, the shell and its workers can all be killed at once)."""
    log(f"live-covalent: starting Covalent {VERSION} on port {port}")
    with open(work / "covalent-start.log", "ab") as out:
        proc = subprocess.Popen(
            [str(python.parent / "covalent"), "start", "--no-cluster", "-p", str(port)],
            env=env,
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # `covalent start` returns once the server listens.
    if proc.wait(timeout=120) != 0:
        raise RuntimeError(f"covalent start failed: see {work / 'covalent-start.log'}")
    return proc


def _stop_server(python: Path, env: dict[str, str], proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            [str(python.parent / "covalent"), "stop"],
            env=env,
            timeout=60,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    # Whatever `covalent stop` left (the group is the one `covalent start` led).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _spinners(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def _run_once(
    python: Path,
    env: dict[str, str],
    work: Path,
    results: Path,
    daemon: DaemonProcess,
    loaded: bool,
    number: int,
) -> dict[str, Any]:
    """Dispatch DISPATCHES workflows, wait for each final file, then for its read."""
    spinners = _spinners(2) if loaded else []
    try:
        time.sleep(0.5 if loaded else 0.0)  # the spinners on the cores first
        load = os.getloadavg()[0]
        done = subprocess.run(
            [str(python), "-c", CLIENT, str(results), str(DISPATCHES)],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the dispatching client failed: {done.stderr.strip()[-500:]}")
        ids = json.loads(done.stdout.strip().splitlines()[-1])
        finals = {i: _final_file(results / i) for i in ids}
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()
    conn = ro_connect(db_path_of(daemon.home))
    deadline = time.monotonic() + UNREAD_SECONDS
    try:
        found = {i: _read_delay(conn, i, *finals[i], deadline) for i in ids}
    finally:
        conn.close()
    delays = [d for d in found.values() if d is not None]
    unread = [i for i, d in found.items() if d is None]
    return {
        "run": number,
        "loaded": loaded,
        "load_average": load,
        "dispatch_ids": ids,
        "delays_ms": [round(d, 1) for d in delays],
        # A final file not read by the deadline counts as that late, at least.
        "worst_ms": float("inf") if unread else max(delays),
        "unread": unread,
        "statuses": [finals[i][2] for i in ids],
    }


def _final_file(folder: Path) -> tuple[int, int, str]:
    """(mtime_ns, size, status) of the folder's result.pkl once Covalent is done with it."""
    deadline = time.monotonic() + RUN_TIMEOUT
    info = folder / "result_info.yaml"
    pkl = folder / "result.pkl"
    last: tuple[int, int] | None = None
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        status = _status_of(info)
        try:
            st = pkl.stat()
            now_seen = (st.st_mtime_ns, st.st_size)
        except OSError:
            now_seen = None
        if now_seen != last:
            last, still_since = now_seen, time.monotonic()
        elif status in FINAL and now_seen and time.monotonic() - still_since >= QUIET_SECONDS:
            return now_seen[0], now_seen[1], status
        time.sleep(0.05)
    raise RuntimeError(f"{folder.name} did not finish within {RUN_TIMEOUT:.0f}s")


def _status_of(info: Path) -> str | None:
    try:
        text = info.read_text()
    except OSError:
        return None
    # 0.110 dumps its Status object: "result_status: !!python/object:...", then "  STATUS: X".
    match = re.search(r"^\s*STATUS:\s*(\w+)", text, re.M) or re.search(
        r"^result_status:\s*(\w+)\s*$", text, re.M
    )
    return match.group(1) if match else None


def _read_delay(
    conn: Any, dispatch_id: str, mtime_ns: int, size: int, status: str, deadline: float
) -> float | None:
    """Milliseconds from the file's last write to the daemon's read of it;
    None if it was not read by ``deadline``."""
    while True:
        row = conn.execute(
            "SELECT read_at, mtime_ns, size, status FROM dispatch WHERE dispatch_id=?",
            (dispatch_id,),
        ).fetchone()
        if row and row[0] and row[1] == mtime_ns and row[2] == size and row[3] == status:
            read_at = dt.datetime.fromisoformat(row[0]).replace(tzinfo=dt.timezone.utc)
            return (read_at.timestamp() - mtime_ns / 1e9) * 1000
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def table_rows(measure: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(measure, value, baseline, target, result) rows for the bench's table."""
    if "skipped" in measure:
        return [("live latency, real Covalent server", "skipped", measure["skipped"], "-", "info")]
    loaded, unloaded = measure["loaded"], measure["unloaded"]

    def worst(s: dict[str, Any]) -> str:
        d = s["delays_ms"]
        unread = f", {s['unread']} unread" if s["unread"] else ""
        return (
            f"max {d.get('max', float('nan')):.0f} ms, p50 {d.get('p50', float('nan')):.0f} ms"
            f"{unread}"
        )

    return [
        (
            f"live, real Covalent {measure['covalent']}: {loaded['runs']} loaded runs "
            f"of {measure['dispatches_per_run']}",
            f"{worst(loaded)}, {loaded['runs_over_target']} run(s) over target",
            f"unloaded ({unloaded['runs']} runs): {worst(unloaded)}",
            f"<= {TARGET_MS:.0f} ms",
            "PASS" if measure["pass"] else "FAIL",
        )
    ]
