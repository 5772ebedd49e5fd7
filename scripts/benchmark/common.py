"""What every part of the bench shares: where things are, its log, a
failure turned into figures, and the statistics of timed runs."""

from __future__ import annotations

import os
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent.parent
FIXTURES = Path(
    os.environ.get("COVALENT_INDEXER_FIXTURES", REPO.parent / "shared/fixtures/covalent-0.110")
)


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


def error(exc: BaseException) -> dict[str, Any]:
    """A measure that failed, as its figures (the run goes on)."""
    return {
        "status": "error",
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": traceback.format_exc(),
    }


def worker_command(role: str, *options: str) -> list[str]:
    """The command line of one of the bench's own helper processes (see main.worker)."""
    return [sys.executable, str(PACKAGE), role, *options]


def nan() -> float:
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolating between ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: list[float]) -> dict[str, Any]:
    """Median over repeats, with min and max and every run."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


def distribution(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "p50": percentile(samples, 50),
        "p90": percentile(samples, 90),
        "p99": percentile(samples, 99),
        "min": min(samples),
        "max": max(samples),
        "mean": statistics.fmean(samples),
    }
