"""Measure 4, burst: dispatches written as fast as one process can, into
the folder a running daemon watches; the time until the last is indexed and
how many were lost."""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from dispatch_indexer.corpus import read_template, with_new_id, write_dispatch

from .common import log, nan, spread, worker_command
from .corpus import Corpus
from .database import db_path_of, ro_connect
from .processes import DaemonProcess
from .session import Session


def measure(
    session: Session, daemon: DaemonProcess, corpus: Corpus, written: list[str]
) -> dict[str, Any]:
    """``--repeat`` bursts of ``--burst-n`` dispatches, against the daemon that
    ``run.live_and_burst`` started (restarted between bursts)."""
    args = session.args
    runs = []
    for r in range(args.repeat):
        if r:
            # Each burst starts from the N-dispatch root: remove the last one
            # with the daemon stopped, then start it again (untimed).
            daemon.stop()
            for name in written:
                shutil.rmtree(corpus.root / name, ignore_errors=True)
            written.clear()
            daemon.start(timeout=120 + corpus.n * 0.01)
        run = _burst_once(session, daemon, corpus, r, written)
        runs.append(run)
        log(
            f"burst {r + 1}/{args.repeat}: {run['indexed']}/{run['n']} indexed, last after "
            f"{run['last_indexed_seconds']}s (writing took {run['write_seconds']:.2f}s), "
            f"lost {run['lost']}"
        )
    done = [r["last_indexed_seconds"] for r in runs if r["last_indexed_seconds"] is not None]
    lost = max(r["lost"] for r in runs)
    return {
        "n": corpus.n,
        "burst_n": args.burst_n,
        "last_indexed_seconds": spread(done) if done else None,
        "write_seconds": spread([r["write_seconds"] for r in runs]),
        "lag_after_writer_seconds": spread(
            [
                r["lag_after_writer_seconds"]
                for r in runs
                if r["lag_after_writer_seconds"] is not None
            ]
            or [nan()]
        ),
        "lost": lost,
        "lost_runs": [r["lost"] for r in runs],
        "target": "0 lost",
        "pass": lost == 0,
        "runs": runs,
    }


def _burst_once(
    session: Session, daemon: DaemonProcess, corpus: Corpus, r: int, written: list[str]
) -> dict[str, Any]:
    args = session.args
    work = session.run_dir / f"burst-{r}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = db_path_of(daemon.home)
    conn = ro_connect(db)
    try:
        prefix = _burst_prefix(conn)
        low, high = prefix, prefix[:-1] + "."
        count_sql = "SELECT count(*) FROM dispatch WHERE dispatch_id >= ? AND dispatch_id < ?"
        overflow_before = daemon.log_count("overflow")
        rescans_before = daemon.log_count("rescan")
        templates = [str(p) for p in session.templates.finished]
        writer = subprocess.Popen(
            worker_command(
                "_burst_writer",
                "--root",
                str(corpus.root),
                "--n",
                str(args.burst_n),
                "--prefix",
                prefix,
                "--templates",
                json.dumps(templates),
                "--out",
                str(work / "writer.json"),
            )
        )
        spawned = time.monotonic()
        last_at = None
        writer_end = None
        count = 0
        polls = 0
        while True:
            count = conn.execute(count_sql, (low, high)).fetchone()[0]
            now = time.monotonic()
            polls += 1
            if count >= args.burst_n:
                last_at = now
                break
            if writer_end is None and writer.poll() is not None:
                if writer.returncode != 0:
                    raise RuntimeError("the burst writer failed")
                writer_end = now
            if writer_end is not None and now - writer_end > args.burst_deadline:
                break
            if now - spawned > args.burst_deadline * 4 + 600:
                break
            time.sleep(0.02)
        if writer.wait(timeout=600) != 0:
            raise RuntimeError("the burst writer failed")
        report = json.loads((work / "writer.json").read_text())
        written.extend(report["ids"])
        count = conn.execute(count_sql, (low, high)).fetchone()[0]
    finally:
        conn.close()
    status = daemon.status()
    last = None if last_at is None else round(last_at - report["start"], 3)
    return {
        "n": args.burst_n,
        "indexed": count,
        "lost": args.burst_n - count,
        "write_seconds": report["end"] - report["start"],
        "last_indexed_seconds": last,
        "lag_after_writer_seconds": None if last_at is None else last_at - report["end"],
        "writer_dispatches_per_second": args.burst_n / (report["end"] - report["start"]),
        "indexed_per_second": None if last is None else args.burst_n / last,
        "polls": polls,
        "overflow_log_lines": daemon.log_count("overflow") - overflow_before,
        "rescan_log_lines": daemon.log_count("rescan") - rescans_before,
        "degraded": status.get("degraded", []),
        "daemon_memory_after": {**daemon.memory(), **daemon.sampled()},
        "daemon_watches_after": daemon.watches(),
    }


def _burst_prefix(conn: sqlite3.Connection) -> str:
    """A fresh 8-hex-digit uuid prefix no indexed dispatch has: the burst's
    dispatches are counted with one index range scan."""
    while True:
        prefix = uuid.uuid4().hex[:8] + "-"
        row = conn.execute(
            "SELECT count(*) FROM dispatch WHERE dispatch_id >= ? AND dispatch_id < ?",
            (prefix, prefix[:-1] + "."),
        ).fetchone()
        if row[0] == 0:
            return prefix


def writer(args: argparse.Namespace) -> None:
    """Write ``n`` new finished dispatches as fast as one process can."""
    templates = [read_template(p) for p in json.loads(args.templates)]
    root = Path(args.root)
    ids = []
    start = time.monotonic()
    for i in range(args.n):
        dispatch_id, files = with_new_id(
            templates[i % len(templates)], args.prefix + str(uuid.uuid4())[9:]
        )
        write_dispatch(root, dispatch_id, files)
        ids.append(dispatch_id)
    end = time.monotonic()
    Path(args.out).write_text(json.dumps({"start": start, "end": end, "ids": ids}))
