"""The whole run: each measure selected, in order, one failure reported
without hiding the rest; live and burst share one running daemon."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from typing import Any

from . import (
    burst,
    cli_start,
    cold,
    footprint,
    idle,
    ingest_pg,
    live,
    live_covalent,
    notify,
    queries,
    rescan,
    server,
    soak,
)
from .common import error, log
from .options import MEASURES
from .processes import DaemonProcess
from .session import Session


def live_and_burst(session: Session, with_live: bool, with_burst: bool) -> dict[str, Any]:
    """Live and burst against one daemon on the indexed corpus, started once:
    its start-up scan of N dispatches is not what either measures."""
    args = session.args
    corpus = session.corpus(args.n)
    home = session.indexed_home(args.n)
    written: list[str] = []
    out: dict[str, Any] = {}
    daemon = DaemonProcess(home, session.run_dir / "logs" / "daemon-live.stderr")
    try:
        log(f"live/burst: starting the daemon on {corpus.n:,} indexed dispatches")
        daemon.start(timeout=120 + corpus.n * 0.01)
        start_seconds = daemon.ready_seconds
        if with_live:
            try:
                out["live"] = live.measure(session, daemon, corpus, written)
                out["live"]["daemon_start_seconds"] = start_seconds
            except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                out["live"] = error(exc)
        if with_burst:
            try:
                out["burst"] = burst.measure(session, daemon, corpus, written)
            except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                out["burst"] = error(exc)
    finally:
        daemon.stop()
        for name in written:
            shutil.rmtree(corpus.root / name, ignore_errors=True)
    return out


# The measures after live and burst, in the order they run.
AFTER_LIVE: tuple[tuple[str, Callable[[Session], dict[str, Any]]], ...] = (
    ("queries", queries.measure),
    ("footprint", footprint.measure),
    ("server", server.measure),
    ("cli-start", cli_start.measure),
    ("idle", idle.measure),
    ("notify", notify.measure),
    ("ingest-pg", ingest_pg.measure),
    ("live-covalent", live_covalent.measure),
    ("soak", soak.measure),
)


def run(session: Session) -> dict[str, Any]:
    """Every selected measure: its figures, or its error, and its wall time."""
    args = session.args
    started = time.monotonic()
    selected = args.only
    measures: dict[str, Any] = {m: {"status": "not run (--only)"} for m in MEASURES}

    def attempt(name: str, measure: Callable[[Session], dict[str, Any]]) -> None:
        # What the last measure wrote (a 1.3 GB index) goes to disk now,
        # not under the next one's feet.
        os.sync()
        log(f"--- {name} (load average {os.getloadavg()[0]:.2f})")
        load = os.getloadavg()[0]
        t = time.monotonic()
        try:
            value = measure(session)
            measures[name] = {"status": "ok", "load_average_at_start": load, **value}
        except Exception as exc:  # noqa: BLE001 - one broken measure must not hide the rest
            measures[name] = error(exc)
            log(f"{name} FAILED: {exc}")
        measures[name]["wall_seconds"] = round(time.monotonic() - t, 2)

    if "cold" in selected:
        attempt("cold", cold.measure)
    if "rescan" in selected:
        attempt("rescan", rescan.measure)
    if "live" in selected or "burst" in selected:
        load = os.getloadavg()[0]
        log(f"--- live/burst (load average {load:.2f})")
        t = time.monotonic()
        try:
            both = live_and_burst(session, "live" in selected, "burst" in selected)
        except Exception as exc:  # noqa: BLE001
            both = {m: error(exc) for m in ("live", "burst") if m in selected}
        for name, value in both.items():
            measures[name] = (
                value
                if "status" in value
                else {"status": "ok", "load_average_at_start": load, **value}
            )
            measures[name]["wall_seconds"] = round(time.monotonic() - t, 2)
    for name, measure in AFTER_LIVE:
        if name in selected:
            attempt(name, measure)
    return {
        "measures": measures,
        "corpora": {str(n): c.info for n, c in session.corpora.items()},
        "notes": session.notes,
        "duration_seconds": round(time.monotonic() - started, 1),
    }
