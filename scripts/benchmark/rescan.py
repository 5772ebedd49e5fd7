"""Measure 2, rescan: scan the indexed corpus again with nothing changed,
beside the bare walk and ``find ROOT -name result.pkl``."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from dispatch_indexer import DispatchIndex

from .common import log, spread
from .corpus import bare_walk
from .database import warm_database
from .session import Session


def measure(session: Session) -> dict[str, Any]:
    args = session.args
    corpus = session.corpus(args.n)
    home = session.indexed_home(args.n)
    bare_walk(corpus.root)
    walks, finds, scans, summaries = [], [], [], []
    for r in range(args.repeat):
        t = time.perf_counter()
        bare_walk(corpus.root)
        walks.append(time.perf_counter() - t)
        finds.append(find(corpus.root, corpus.n))
        with DispatchIndex(home=home) as index:
            warm_database(home)
            t = time.perf_counter()
            summary = index.scan()
            scans.append(time.perf_counter() - t)
        summaries.append(summary.line())
        if summary.unchanged != corpus.n or summary.new or summary.updated:
            raise RuntimeError(f"rescan was not a no-op: {summary.line()}")
        log(f"rescan {r + 1}/{args.repeat}: walk {walks[-1]:.3f}s, rescan {scans[-1]:.3f}s")
    scan, walk, found = spread(scans), spread(walks), spread(finds)
    ratio = scan["median"] / walk["median"]
    find_ratio = scan["median"] / found["median"]
    return {
        "n": corpus.n,
        "seconds": scan,
        "bare_walk_seconds": walk,
        "ratio_to_bare_walk": ratio,
        "find_seconds": found,
        "ratio_to_find": find_ratio,
        "target": "<= 1.5x bare walk, <= 1.5x find",
        "pass": ratio <= 1.5,
        "find_pass": find_ratio <= 1.5,
        "scan_summaries": summaries,
    }


def find(root: Path, expected: int) -> float:
    """Seconds for ``find ROOT -name result.pkl`` (its output read and counted)."""
    t = time.perf_counter()
    done = subprocess.run(
        ["find", str(root), "-name", "result.pkl"], capture_output=True, check=True
    )
    seconds = time.perf_counter() - t
    found = done.stdout.count(b"\n")
    if found != expected:
        raise RuntimeError(f"find listed {found} result.pkl, expected {expected}")
    return seconds
