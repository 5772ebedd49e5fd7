"""Measure 2, rescan: scan the indexed corpus again with nothing changed,
beside the bare walk."""

from __future__ import annotations

import time
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
    walks, scans, summaries = [], [], []
    for r in range(args.repeat):
        t = time.perf_counter()
        bare_walk(corpus.root)
        walks.append(time.perf_counter() - t)
        with DispatchIndex(home=home) as index:
            warm_database(home)
            t = time.perf_counter()
            summary = index.scan()
            scans.append(time.perf_counter() - t)
        summaries.append(summary.line())
        if summary.unchanged != corpus.n or summary.new or summary.updated:
            raise RuntimeError(f"rescan was not a no-op: {summary.line()}")
        log(f"rescan {r + 1}/{args.repeat}: walk {walks[-1]:.3f}s, rescan {scans[-1]:.3f}s")
    scan, walk = spread(scans), spread(walks)
    ratio = scan["median"] / walk["median"]
    return {
        "n": corpus.n,
        "seconds": scan,
        "bare_walk_seconds": walk,
        "ratio_to_bare_walk": ratio,
        "target": "<= 1.5x bare walk",
        "pass": ratio <= 1.5,
        "scan_summaries": summaries,
    }
