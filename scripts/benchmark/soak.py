"""The soak (issue 16): the real daemon on a results folder while a writer
process saves steadily for minutes, as Covalent does; the daemon's memory,
descriptors and threads (and its readers') sampled throughout, and at the
end, nothing lost.

The writer keeps about ``population`` dispatches on disk: it creates new
finished dispatches and new RUNNING ones (each rewritten as COMPLETED or
FAILED ``running_seconds`` later) and, past the population, deletes the
oldest folder. A steady population on disk means a daemon that grows is
leaking, not following a bigger tree (the index itself keeps growing: the
deleted dispatches stay in it, marked missing, as ``store/forget.py`` does).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dispatch_indexer import DispatchIndex
from dispatch_indexer.corpus import read_template, with_new_id, write_dispatch

from .common import log, worker_command
from .corpus import Templates
from .machine import proc_field
from .processes import DaemonProcess, descendants
from .session import Session

# Past this drift from the level after warm-up, a figure is not flat.
FLAT_PERCENT = 10.0
# Samples pooled (by their median) for the level after warm-up and at the end,
# and for each point of the smoothed series the max drift is taken over: one
# sample can catch a read in flight.
WINDOW = 5


@dataclass
class SoakOptions:
    seconds: float
    rate: float = 4.0  # writer operations (saves and deletions) per second
    population: int = 1000  # dispatches on disk, held steady
    running_seconds: float = 10.0  # a RUNNING dispatch's life before its final save
    sample_seconds: float = 5.0
    catch_up_seconds: float = 60.0  # after the writer ends, for the index to match the disk

    @property
    def warmup_seconds(self) -> float:
        return min(0.2 * self.seconds, 120.0)


def measure(session: Session) -> dict[str, Any]:
    """``scripts/bench --soak MINUTES``: one soak under the run's folder."""
    args = session.args
    options = SoakOptions(
        seconds=args.soak * 60, rate=args.soak_rate, population=args.soak_population
    )
    return run_soak(session.templates, session.run_dir / "soak", options)


def run_soak(templates: Templates, work: Path, options: SoakOptions) -> dict[str, Any]:
    """Seed the folder, start the daemon on it, run the writer while sampling,
    then wait (up to ``catch_up_seconds``) for the index to match the disk."""
    shutil.rmtree(work, ignore_errors=True)
    root, home = work / "results", work / "home"
    root.mkdir(parents=True)
    home.mkdir()
    seeded = seed(templates, root, options.population)
    with DispatchIndex(home=home) as index:
        index.add_dirs([root])
    plan = {
        "root": str(root),
        "seeded": seeded,
        "finished": [[str(p), templates.status(p)] for p in templates.finished],
        "running": [str(templates.running), templates.status(templates.running)],
        "finals": final_templates(templates),
        "population": options.population,
        "rate": options.rate,
        "seconds": options.seconds,
        "running_seconds": options.running_seconds,
    }
    daemon = DaemonProcess(home, work / "daemon.stderr")
    log(f"soak: starting the daemon on {len(seeded)} dispatches")
    daemon.start(timeout=120 + len(seeded) * 0.01)
    samples: list[dict[str, Any]] = []
    try:
        plan["t0"] = t0 = time.monotonic() + 1.0
        (work / "plan.json").write_text(json.dumps(plan))
        out = work / "writer.json"
        writer_proc = subprocess.Popen(
            worker_command("_soak_writer", "--plan", str(work / "plan.json"), "--out", str(out))
        )
        log(f"soak: {options.seconds:g} s of writes at {options.rate:g}/s")
        try:
            while writer_proc.poll() is None:
                samples.append(sample(daemon.pid, time.monotonic() - t0))
                with contextlib.suppress(subprocess.TimeoutExpired):
                    writer_proc.wait(options.sample_seconds)
        finally:
            if writer_proc.poll() is None:
                writer_proc.kill()
            writer_proc.wait()
        if writer_proc.returncode != 0:
            raise RuntimeError(f"the soak writer failed ({writer_proc.returncode})")
        written = json.loads(out.read_text())
        log("soak: the writer is done; waiting for the index to match the disk")
        check = catch_up(home, written, options.catch_up_seconds)
        log(f"soak: {check['lost']} lost after {check['catch_up_seconds']:g} s")
        samples.append(sample(daemon.pid, time.monotonic() - t0, after_writer=True))
        status = daemon.status()
    finally:
        stopping = time.monotonic()
        daemon.stop()
        stop_seconds = time.monotonic() - stopping
        log(f"soak: the daemon stopped in {stop_seconds:.2f} s")
    figures = summarize(samples, options)
    ok = figures["flat"] and check["lost"] == 0
    return {
        "options": {**asdict(options), "warmup_seconds": options.warmup_seconds},
        "writer": {k: v for k, v in written.items() if k not in ("on_disk", "deleted_ids")},
        "check": check,
        **figures,
        "daemon_ingest": status.get("ingest"),
        "daemon_start_seconds": daemon.ready_seconds,
        "daemon_stop_seconds": round(stop_seconds, 2),
        "samples": samples,
        "pass": ok,
    }


def final_templates(templates: Templates) -> list[list[str]]:
    """What a RUNNING dispatch becomes: its own COMPLETED end, and a FAILED one."""
    finals = [[str(templates.running_final), templates.status(templates.running_final)]]
    failed = [p for p in templates.finished if templates.status(p) == "FAILED"]
    finals += [[str(p), "FAILED"] for p in failed[:1]]
    return finals


def seed(templates: Templates, root: Path, n: int) -> list[list[str]]:
    """``n`` finished dispatches written before the daemon starts: [id, status]."""
    sources = [(read_template(p), templates.status(p)) for p in templates.finished]
    seeded = []
    for i in range(n):
        template, status = sources[i % len(sources)]
        dispatch_id, files = with_new_id(template)
        write_dispatch(root, dispatch_id, files)
        seeded.append([dispatch_id, status])
    return seeded


# ---- what the daemon holds, from /proc -----------------------------------


def proc_figures(pid: int) -> dict[str, int] | None:
    """VmRSS (bytes), open descriptors and threads of one process."""
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    rss = proc_field(f"/proc/{pid}/status", "VmRSS")
    threads = proc_field(f"/proc/{pid}/status", "Threads")
    if rss is None or threads is None:
        return None
    return {"rss": int(rss.split()[0]) * 1024, "fds": fds, "threads": int(threads)}


def sample(pid: int, t: float, after_writer: bool = False) -> dict[str, Any]:
    """The daemon's figures and its readers' (each process below it)."""
    own = proc_figures(pid) or {}
    readers = [f for f in (proc_figures(child) for child in descendants(pid)) if f]
    return {
        "t": round(t, 2),
        **own,
        "readers": len(readers),
        # The daemon holds one socket per reader, and readers come and go.
        "fds_without_readers": own.get("fds", 0) - len(readers),
        "readers_rss_max": max((r["rss"] for r in readers), default=0),
        "readers_rss": sum(r["rss"] for r in readers),
        "readers_fds": sum(r["fds"] for r in readers),
        "load": os.getloadavg()[0],
        **({"after_writer": True} if after_writer else {}),
    }


def level(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def drift(series: list[float], baseline: float) -> float:
    """The largest drift (%) from ``baseline`` of the series smoothed by a
    running median of WINDOW samples."""
    if not series or not baseline:
        return float("nan")
    smoothed = [level(series[max(0, i - WINDOW + 1) : i + 1]) for i in range(len(series))]
    return max(abs(v - baseline) for v in smoothed) / baseline * 100


def summarize(samples: list[dict[str, Any]], options: SoakOptions) -> dict[str, Any]:
    """For each figure: its level after warm-up, at the end of the writes,
    its peak, and its largest drift; flat when each stays within FLAT_PERCENT."""
    steady = [s for s in samples if s["t"] >= options.warmup_seconds and "rss" in s]
    steady = [s for s in steady if not s.get("after_writer")]
    figures: dict[str, Any] = {}
    keys = ("rss", "fds", "fds_without_readers", "threads", "readers_rss_max", "readers_fds")
    for key in (*keys, "readers"):
        series = [float(s[key]) for s in steady]
        baseline = level(series[:WINDOW])
        figures[key] = {
            "after_warmup": baseline,
            "end": level(series[-WINDOW:]),
            "max": max(series, default=float("nan")),
            "drift_percent": drift(series, baseline),
        }
    judged = ("rss", "fds_without_readers", "threads", "readers_rss_max")
    flat = bool(steady) and all(figures[k]["drift_percent"] <= FLAT_PERCENT for k in judged)
    loads = [s["load"] for s in samples]
    return {
        "figures": figures,
        "samples_after_warmup": len(steady),
        "load_average": {"min": min(loads, default=0), "max": max(loads, default=0)},
        "flat": flat,
    }


def table_rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, bool | None]]:
    """(measure, value, baseline, target, pass) rows for the bench's table."""
    f, o, c = m["figures"], m["options"], m["check"]
    label = f"soak {o['seconds'] / 60:g} min at {o['rate']:g}/s"
    mb = 2**20

    def row(key: str, name: str, scale: float, unit: str) -> tuple[str, str, str, str, bool]:
        x = f[key]
        return (
            f"{label}: {name}, end (max)",
            f"{x['end'] / scale:.0f}{unit} ({x['max'] / scale:.0f}{unit})",
            f"after warm-up {x['after_warmup'] / scale:.0f}{unit}",
            f"drift {x['drift_percent']:.1f}% <= {FLAT_PERCENT:g}%",
            x["drift_percent"] <= FLAT_PERCENT,
        )

    return [
        row("rss", "daemon RSS", mb, " MB"),
        row("fds", "daemon open fds", 1, ""),
        row("fds_without_readers", "daemon fds but its readers' sockets", 1, ""),
        row("threads", "daemon threads", 1, ""),
        row("readers_rss_max", "largest reader RSS", mb, " MB"),
        (
            f"{label}: lost",
            str(c["lost"]),
            f"{c['on_disk']} on disk, {c['deleted']} deleted, caught up in "
            f"{c['catch_up_seconds']:g} s",
            "0",
            c["lost"] == 0,
        ),
    ]


# ---- nothing lost ---------------------------------------------------------


def catch_up(home: Path, written: dict[str, Any], deadline_seconds: float) -> dict[str, Any]:
    """Wait until the index holds exactly the writer's dispatches on disk,
    each with its last status, and every deleted one is marked missing (or
    was never indexed); then what still differs, if the deadline passed."""
    started = time.monotonic()
    while True:
        check = compare(home, written)
        check["catch_up_seconds"] = round(time.monotonic() - started, 2)
        if check["lost"] == 0 or time.monotonic() - started > deadline_seconds:
            return check
        time.sleep(0.5)


def compare(home: Path, written: dict[str, Any]) -> dict[str, Any]:
    on_disk: dict[str, str] = written["on_disk"]
    deleted = set(written["deleted_ids"])
    indexed: dict[str, tuple[str | None, bool]] = {}
    with DispatchIndex(home=home) as index:
        for record in index.iterate(include_missing=True):
            indexed[record.dispatch_id] = (record.status, record.missing)
    absent = [i for i in on_disk if i not in indexed]
    wrong = [i for i, status in on_disk.items() if i in indexed and indexed[i] != (status, False)]
    not_marked = [i for i in deleted if i in indexed and not indexed[i][1]]
    strays = [i for i, (_, missing) in indexed.items() if not missing and i not in on_disk]
    strays = [i for i in strays if i not in deleted]
    return {
        "on_disk": len(on_disk),
        "deleted": len(deleted),
        "indexed": len(indexed),
        "deleted_marked_missing": sum(1 for i in deleted if indexed.get(i, (0, False))[1]),
        "deleted_never_indexed": sum(1 for i in deleted if i not in indexed),
        "absent": len(absent),
        "wrong_status": len(wrong),
        "deleted_not_marked": len(not_marked),
        "strays": len(strays),
        "examples": (absent + wrong + not_marked + strays)[:5],
        "lost": len(absent) + len(wrong) + len(not_marked) + len(strays),
    }
