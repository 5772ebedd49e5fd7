"""Measure 6, footprint: a real daemon indexes the corpus from nothing and
rescans it; its peak and steady memory (with its reader workers), its
inotify watches, and the database's bytes per record. Optionally at sizes
too big to clone, on hard-linked folders and synthesized rows."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dispatch_indexer import DispatchIndex
from dispatch_indexer import config as config_mod

from .common import log
from .database import db_files_size, db_path_of, ro_connect, table_sizes
from .processes import DaemonProcess
from .session import Session
from .synthesize import ensure_link_tree, synthesize_read


def measure(session: Session) -> dict[str, Any]:
    sizes = session.args.footprint_n or [session.args.n]
    result = {str(n): _footprint(session, n) for n in sizes}
    for n in session.args.footprint_synthetic or []:
        result[f"{n}-synthetic"] = _footprint_synthetic(session, n)
    return {"sizes": result}


def _footprint(session: Session, n: int) -> dict[str, Any]:
    corpus = session.corpus(n)
    home = session.fresh_home(f"footprint-{n}")
    with DispatchIndex(home=home) as index:
        index.add_dirs([corpus.root])
        index.config.rescan_interval = session.args.footprint_rescan_interval
        config_mod.save(index.config, index.paths)
    log(f"footprint n={n}: the daemon indexes {n:,} dispatches from nothing")
    return _footprint_daemon(session, home, n, f"footprint-{n}")


def _footprint_synthetic(session: Session, n: int) -> dict[str, Any]:
    """The footprint at a size too big to clone (1,000,000 real clones
    are some 24 GB and an hour to write and index): ``n`` dispatch
    folders whose result.pkl are hard links to one real file, and an
    index whose rows (a real row of that file, with identity and folder
    varied) say every folder was read already. The daemon starts on it,
    rescans (finding nothing changed) and is measured as at N."""
    root = ensure_link_tree(session.workdir, session.templates.finished[0], n)
    home = session.fresh_home(f"footprint-synthetic-{n}")
    log(f"footprint n={n} (synthetic): writing {n:,} index rows")
    started = time.perf_counter()
    synthesize_read(home, root, session.args.footprint_rescan_interval)
    log(f"footprint n={n} (synthetic): rows written in {time.perf_counter() - started:.0f}s")
    result = _footprint_daemon(session, home, n, f"footprint-synthetic-{n}")
    result["synthetic"] = (
        "folders hold hard links to one result.pkl; rows synthesized as read; "
        "no stored result.pkl bytes (result_blob empty)"
    )
    return result


def _footprint_daemon(session: Session, home: Path, n: int, name: str) -> dict[str, Any]:
    args = session.args
    daemon = DaemonProcess(home, session.run_dir / "logs" / f"daemon-{name}.stderr")
    try:
        daemon.start(timeout=300 + n * 0.05)
        after_index = daemon.memory()
        watches_after_index = daemon.watches()
        first = daemon.status().get("last_full_scan") or {}
        log(f"footprint n={n}: indexed in {daemon.ready_seconds:.1f}s; waiting for a rescan")
        deadline = time.monotonic() + args.footprint_rescan_interval + 120 + n * 0.01
        rescan = None
        while time.monotonic() < deadline:
            scan = daemon.status().get("last_full_scan") or {}
            if scan.get("time") != first.get("time") and scan.get("summary") is not None:
                rescan = scan
                break
            time.sleep(0.1)
        if rescan is None:
            raise RuntimeError("the daemon did not rescan in time")
        steady = daemon.memory()
        sampled = daemon.sampled()
        watches = daemon.watches()
        status = daemon.status()
        db = db_path_of(home)
        sizes = db_files_size(db)
        conn = ro_connect(db)
        try:
            records = conn.execute("SELECT count(*) FROM dispatch").fetchone()[0]
            tables = table_sizes(conn)
        finally:
            conn.close()
    finally:
        daemon.stop()
    per_record = (sizes["db"] + sizes["wal"]) / max(records, 1)
    log(
        f"footprint n={n}: peak {steady.get('VmHWM', 0) / 2**20:.0f} MB, steady "
        f"{steady.get('VmRSS', 0) / 2**20:.0f} MB, {watches} watches, "
        f"{per_record:,.0f} bytes/record"
    )
    return {
        "n": n,
        "daemon_initial_index_seconds": daemon.ready_seconds,
        "peak_rss_bytes": steady.get("VmHWM"),
        "peak_rss_sum_with_workers_bytes": steady.get("VmHWM_sum_with_children"),
        "steady_rss_with_workers_bytes": steady.get("VmRSS_with_children"),
        "processes": steady.get("processes"),
        **sampled,
        "peak_rss_after_initial_index_bytes": after_index.get("VmHWM"),
        "rss_after_initial_index_bytes": after_index.get("VmRSS"),
        "steady_rss_bytes": steady.get("VmRSS"),
        "inotify_watches": watches,
        "inotify_watches_after_initial_index": watches_after_index,
        "status_watches": status.get("watches"),
        "rescan": rescan,
        "rescan_interval_seconds": args.footprint_rescan_interval,
        "records": records,
        "database_bytes": sizes,
        "database_bytes_per_record": per_record,
        "table_bytes": tables,
    }
