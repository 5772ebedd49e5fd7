"""Measure 7, server: a Covalent server of N dispatches (a dispatcher
database synthesized from the 0.240 fixture's rows, ``server_db``).

(a) cold: a first sync of all N into an empty index, per dispatch, beside
    the legacy listing pass's per-dispatch time on a results tree of the
    same size (that pass lists each dispatch from its result_info.yaml);
    and a second sync with nothing changed (the reconciliation).
(b) live: with the daemon running on it, ``--server-changes`` lattice rows
    go RUNNING -> COMPLETED (updated_at bumped), committed through sqlite3
    in ``--server-transactions`` transactions; the time from each commit to
    the row showing COMPLETED in the index: p50, p99 (target p99 < 1 s).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import threading
import time
from typing import Any

from dispatch_indexer import DispatchIndex
from dispatch_indexer.scan import listing

from .common import distribution, log
from .corpus import warm_files
from .database import db_path_of, ro_connect
from .processes import DaemonProcess
from .server_db import Server, ensure_server, mark_running
from .session import Session

# The live writer's pause between its transactions.
PAUSE = 0.05
# How often the live reader polls the index.
POLL = 0.01


def measure(session: Session) -> dict[str, Any]:
    args = session.args
    server = ensure_server(session.workdir, args.server_n, args.heavy_every)
    changes = min(args.server_changes, server.n // 2)
    changed = mark_running(server, changes)
    home = session.fresh_home("server")
    cold = _cold(server, home)
    legacy = _legacy_listing(session, server.n)
    per = cold["seconds"] / server.n * 1000
    legacy_per = legacy["seconds"] / max(legacy["count"], 1) * 1000
    result: dict[str, Any] = {
        "n": server.n,
        "cold": cold,
        "cold_per_dispatch_ms": per,
        "legacy_listing": legacy,
        "legacy_listing_per_dispatch_ms": legacy_per,
        "ratio_to_legacy_listing": per / legacy_per if legacy_per else None,
    }
    live = _live(session, server, home, changed, args.server_transactions)
    result["live"] = live
    result["targets"] = {"live_p99_ms": "< 1000"}
    result["pass"] = {"live_p99": live["latency_ms"].get("p99", float("inf")) < 1000}
    shutil.rmtree(home, ignore_errors=True)
    return result


def _cold(server: Server, home: Any) -> dict[str, Any]:
    with DispatchIndex(home=home) as index:
        index.add_dirs([server.data])
        warm_files(server.data)
        _warm(server)
        t = time.perf_counter()
        summary = index.scan()
        seconds = time.perf_counter() - t
        if summary.new != server.n or summary.errors:
            raise RuntimeError(f"server cold sync: {summary.line()} {summary.errors[:3]}")
        t = time.perf_counter()
        again = index.scan()
        unchanged = time.perf_counter() - t
    log(f"server cold: {seconds:.2f}s for {server.n:,} ({summary.line()})")
    log(f"server sync, nothing changed: {unchanged:.2f}s")
    return {
        "seconds": seconds,
        "summary": summary.line(),
        "unchanged_seconds": unchanged,
        "unchanged_summary": again.line(),
    }


def _warm(server: Server) -> None:
    with open(server.database, "rb") as handle:
        while handle.read(1 << 20):
            pass


def _legacy_listing(session: Session, n: int) -> dict[str, Any]:
    """The listing pass over a results tree of ``n`` dispatches, alone."""
    corpus = session.corpus(n)
    home = session.fresh_home("server-legacy")
    warm_files(corpus.root)
    with DispatchIndex(home=home) as index:
        index.add_dirs([corpus.root])
        # The pass itself, as the scanner runs it first on a new root.
        store = index._store
        listed = listing.list_root(store, index.config, str(corpus.root), frozenset())
    shutil.rmtree(home, ignore_errors=True)
    log(f"legacy listing: {listed.seconds:.2f}s for {listed.count:,}")
    return {"seconds": listed.seconds, "count": listed.count}


def _live(
    session: Session, server: Server, home: Any, changed: list[str], transactions: int
) -> dict[str, Any]:
    daemon = DaemonProcess(home, session.run_dir / "logs" / "daemon-server.stderr")
    daemon.start(timeout=120 + server.n * 0.01)
    try:
        watches = daemon.watches()
        seen: dict[str, float] = {}
        done = threading.Event()
        reader = threading.Thread(
            target=_reader, args=(db_path_of(home), changed, seen, done), daemon=True
        )
        reader.start()
        committed = _writer(server, changed, transactions)
        deadline = time.monotonic() + 30
        while len(seen) < len(changed) and time.monotonic() < deadline:
            time.sleep(0.01)
        done.set()
        reader.join()
    finally:
        daemon.stop()
    latencies = [(seen[i] - committed[i]) * 1000 for i in changed if i in seen]
    latency = distribution(latencies)
    log(
        f"server live: {len(latencies)}/{len(changed)} seen, p50 {latency.get('p50', 0):.0f} ms,"
        f" p99 {latency.get('p99', 0):.0f} ms, max {latency.get('max', 0):.0f} ms"
    )
    return {
        "changes": len(changed),
        "transactions": transactions,
        "seen": len(latencies),
        "latency_ms": latency,
        "daemon_start_seconds": daemon.ready_seconds,
        "watches": watches,
    }


def _writer(server: Server, ids: list[str], transactions: int) -> dict[str, float]:
    """Complete ``ids`` through sqlite3, as Covalent's server commits."""
    committed: dict[str, float] = {}
    per = max(1, -(-len(ids) // max(1, transactions)))
    conn = sqlite3.connect(server.database, isolation_level=None, timeout=30)
    try:
        for start in range(0, len(ids), per):
            part = ids[start : start + per]
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "UPDATE lattices SET status = 'COMPLETED', completed_at = ?, updated_at = ?"
                " WHERE dispatch_id = ?",
                [(stamp, stamp, i) for i in part],
            )
            conn.execute("COMMIT")
            at = time.monotonic()
            committed.update(dict.fromkeys(part, at))
            time.sleep(PAUSE)
    finally:
        conn.close()
    return committed


def _reader(db: Any, ids: list[str], seen: dict[str, float], done: threading.Event) -> None:
    """Poll the index for each id COMPLETED; when each is first seen. Every
    POLL seconds, and only for the ids not seen yet: the reader must not
    take the CPU the daemon needs (2 cores)."""
    conn = ro_connect(db)
    waiting = list(ids)
    while not done.is_set() and waiting:
        marks = ",".join("?" * len(waiting))
        query = f"SELECT dispatch_id FROM dispatch WHERE status = 'COMPLETED' AND dispatch_id IN ({marks})"  # noqa: E501
        found = conn.execute(query, waiting).fetchall()
        at = time.monotonic()
        for (dispatch_id,) in found:
            seen.setdefault(dispatch_id, at)
        if found:
            waiting = [i for i in waiting if i not in seen]
        time.sleep(POLL)
    conn.close()
