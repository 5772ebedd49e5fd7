"""Measure 3, live: a writer process saves dispatches at a steady rate, as
Covalent does (in place), while a reader process polls SQLite for each
(id, status); the latency from the file closed to the row visible."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from dispatch_indexer.corpus import read_template, with_new_id, write_in_place
from dispatch_indexer.read.reader import RESULT_FILE
from dispatch_indexer.records import FINAL_STATUSES

from .common import distribution, log, nan, spread, worker_command
from .corpus import Corpus, Templates
from .database import db_path_of, ro_connect
from .processes import DaemonProcess
from .session import Session

# A RUNNING save is completed in place this many saves later.
LIVE_GAP = 22


def measure(
    session: Session, daemon: DaemonProcess, corpus: Corpus, written: list[str]
) -> dict[str, Any]:
    """``--repeat`` runs of ``--live-saves`` saves, against the daemon that
    ``run.live_and_burst`` started; ``written`` collects the folders to remove."""
    args = session.args
    runs = []
    for r in range(args.repeat):
        run = _live_once(session, daemon, corpus, r, written)
        runs.append(run)
        d = run["latency_ms"]
        log(
            f"live {r + 1}/{args.repeat}: {run['seen']}/{run['saves']} seen, p50 "
            f"{d.get('p50', float('nan')):.1f} ms, p99 {d.get('p99', float('nan')):.1f} ms, "
            f"max {d.get('max', float('nan')):.1f} ms"
        )
        time.sleep(1.0)
    p50 = spread([r["latency_ms"]["p50"] for r in runs if r["latency_ms"]["n"]] or [nan()])
    p99 = spread([r["latency_ms"]["p99"] for r in runs if r["latency_ms"]["n"]] or [nan()])
    mx = spread([r["latency_ms"]["max"] for r in runs if r["latency_ms"]["n"]] or [nan()])
    pooled = distribution([x for r in runs for x in r["_latencies"]])
    for run in runs:
        del run["_latencies"]
    mem = {**daemon.memory(), **daemon.sampled()}
    return {
        "n": corpus.n,
        "saves": args.live_saves,
        "rate_per_second": args.live_rate,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": mx,
        "pooled_ms": pooled,
        "not_seen": sum(r["not_seen"] for r in runs),
        "superseded_running": sum(r["superseded"] for r in runs),
        "reader_poll_ms": spread([r["reader"]["poll_ms_mean"] for r in runs]),
        "targets": {"p50_ms": "< 50", "p99_ms": "< 250"},
        "pass": {
            "p50": p50["median"] < 50,
            "p99": p99["median"] < 250,
        },
        "daemon_memory_after": mem,
        "runs": runs,
    }


def _live_once(
    session: Session, daemon: DaemonProcess, corpus: Corpus, r: int, written: list[str]
) -> dict[str, Any]:
    args = session.args
    work = session.run_dir / f"live-{r}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    plan = live_plan(session.templates, args.live_saves)
    written.extend(dict.fromkeys(item["id"] for item in plan))
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan))
    t0 = time.monotonic() + 2.0
    duration = args.live_saves / args.live_rate
    deadline = t0 + duration + args.live_timeout
    common = ["--plan", str(plan_file), "--t0", repr(t0), "--rate", repr(args.live_rate)]
    reader = subprocess.Popen(
        worker_command(
            "_live_reader",
            *common,
            "--db",
            str(db_path_of(daemon.home)),
            "--deadline",
            repr(deadline),
            "--out",
            str(work / "reader.json"),
        )
    )
    writer = subprocess.Popen(
        worker_command(
            "_live_writer",
            *common,
            "--root",
            str(corpus.root),
            "--out",
            str(work / "writer.json"),
        )
    )
    try:
        if writer.wait(timeout=duration + 120) != 0:
            raise RuntimeError("the live writer failed")
        if reader.wait(timeout=max(0.0, deadline - time.monotonic()) + 60) != 0:
            raise RuntimeError("the live reader failed")
    finally:
        for proc in (writer, reader):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    saves = json.loads((work / "writer.json").read_text())
    seen_report = json.loads((work / "reader.json").read_text())
    seen = seen_report["seen"]
    superseded = set(seen_report["superseded"])
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    not_seen = []
    late_writes = 0
    for save in saves:
        key = f"{save['id']} {save['status']}"
        if save["closed_at"] - save["due"] > 0.02:
            late_writes += 1
        if key in seen:
            latency = (seen[key] - save["closed_at"]) * 1000
            latencies.append(latency)
            by_kind.setdefault(save["kind"], []).append(latency)
        elif key not in superseded:
            not_seen.append(key)
    return {
        "saves": len(saves),
        "seen": len(latencies),
        "not_seen": len(not_seen),
        "not_seen_examples": not_seen[:5],
        "superseded": len(superseded),
        "late_writes": late_writes,
        "write_seconds": saves[-1]["closed_at"] - saves[0]["closed_at"] if saves else 0,
        "latency_ms": distribution(latencies),
        "by_kind_ms": {kind: distribution(v) for kind, v in by_kind.items()},
        "reader": {k: v for k, v in seen_report.items() if k not in ("seen", "superseded")},
        "_latencies": latencies,
    }


def live_plan(templates: Templates, saves: int) -> list[dict[str, Any]]:
    """``saves`` saves: new finished dispatches, new RUNNING ones, and those
    completed in place LIVE_GAP saves later (about 3:1:1)."""
    plan: list[dict[str, Any]] = []
    completions: dict[int, str] = {}
    finished = templates.finished
    index = 0
    for slot in range(saves):
        if slot % 5 == 0 and slot + LIVE_GAP < saves:
            dispatch_id = str(uuid.uuid4())
            completions[slot + LIVE_GAP] = dispatch_id
            folder = templates.running
            kind = "running"
        elif slot in completions:
            dispatch_id = completions.pop(slot)
            folder = templates.running_final
            kind = "complete"
        else:
            dispatch_id = str(uuid.uuid4())
            folder = finished[index % len(finished)]
            index += 1
            kind = "finished"
        assert folder is not None
        plan.append(
            {
                "slot": slot,
                "kind": kind,
                "id": dispatch_id,
                "template": str(folder),
                "status": templates.status(folder),
            }
        )
    return plan


def writer(args: argparse.Namespace) -> None:
    """Save each planned dispatch at its time, as Covalent does (in place),
    recording when result.pkl was closed."""
    plan = json.loads(Path(args.plan).read_text())
    root = Path(args.root)
    cache: dict[str, tuple[str, dict[str, bytes]]] = {}
    prepared = []
    for item in plan:
        if item["template"] not in cache:
            cache[item["template"]] = read_template(item["template"])
        _, files = with_new_id(cache[item["template"]], item["id"])
        prepared.append((item, files))
    saves = []
    for item, files in prepared:
        due = args.t0 + item["slot"] / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        folder = root / item["id"]
        if item["kind"] != "complete":
            folder.mkdir()
        write_in_place(folder / RESULT_FILE, files[RESULT_FILE])
        closed_at = time.monotonic()
        rest = sorted(n for n in files if n != RESULT_FILE)
        if item["kind"] != "finished":
            rest = [n for n in rest if n == "result_info.yaml"]
        for name in rest:
            write_in_place(folder / name, files[name])
        saves.append(
            {
                "slot": item["slot"],
                "kind": item["kind"],
                "id": item["id"],
                "status": item["status"],
                "due": due,
                "closed_at": closed_at,
            }
        )
    Path(args.out).write_text(json.dumps(saves))


def reader(args: argparse.Namespace) -> None:
    """Poll the index (read-only, its own connection) for each planned
    (id, status) from its due time; record when each is first visible."""
    plan = json.loads(Path(args.plan).read_text())
    conn = ro_connect(Path(args.db))
    query = "SELECT status FROM dispatch WHERE dispatch_id=?"
    items = sorted(
        ((args.t0 + p["slot"] / args.rate, p["id"], p["status"]) for p in plan),
        key=lambda item: item[0],
    )
    seen: dict[str, float] = {}
    superseded: list[str] = []
    active: list[tuple[float, str, str]] = []
    nxt = 0
    polls = 0
    first_poll = None
    while (active or nxt < len(items)) and time.monotonic() < args.deadline:
        now = time.monotonic()
        while nxt < len(items) and items[nxt][0] <= now:
            active.append(items[nxt])
            nxt += 1
        if not active:
            time.sleep(min(0.0005, max(0.0, items[nxt][0] - now)))
            continue
        if first_poll is None:
            first_poll = now
        still = []
        for item in active:
            row = conn.execute(query, (item[1],)).fetchone()
            at = time.monotonic()
            status = row[0] if row else None
            key = f"{item[1]} {item[2]}"
            if status == item[2]:
                seen[key] = at
            elif item[2] not in FINAL_STATUSES and status in FINAL_STATUSES:
                superseded.append(key)  # the RUNNING state came and went unseen
            else:
                still.append(item)
        active = still
        polls += 1
        time.sleep(0.0005)
    elapsed = time.monotonic() - (first_poll or time.monotonic())
    Path(args.out).write_text(
        json.dumps(
            {
                "seen": seen,
                "superseded": superseded,
                "polls": polls,
                "poll_ms_mean": elapsed / max(polls, 1) * 1000,
                "unresolved_at_deadline": len(active) + len(items) - nxt,
            }
        )
    )
