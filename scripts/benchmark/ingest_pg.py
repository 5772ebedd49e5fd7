"""The ``ingest-pg`` measure of scripts/bench (issue 7): how fast daemons fill
one index, with one, two and three daemons writing one PostgreSQL server,
beside one daemon on SQLite.

Run it with ``scripts/bench --only ingest-pg`` (``--quick`` for a small run).
It needs the PostgreSQL server binaries (Debian: ``apt-get install
postgresql``); it starts its own server on loopback, with the server's own
durable defaults (fsync at every commit), in the workdir.

Each configuration gets a fresh database; each daemon its own home, its own
``host`` name and its own results directory, as separate machines would.
Two figures per configuration:

- live: the daemons run; one writer thread per results directory saves
  ``per_daemon`` finished dispatches as fast as it can (the files of a
  cloned Covalent dispatch); from the first save until every one is in the
  index. Dispatches per second of the whole index.
- catch-up: the daemons are stopped, ``per_daemon`` more are saved in each
  directory, and the daemons started again; from the start until every one is
  in the index (their start-up scans, worker processes reading in parallel).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from dispatch_indexer.corpus import read_template, with_new_id, write_dispatch
from dispatch_indexer.paths import ensure_private_dir, resolve

from .common import FIXTURES, REPO, log
from .processes import DaemonProcess
from .session import Session

ARITH = "0eca0b3a-7ac9-491c-9e55-d822e064a9b5"
CONFIGURATIONS = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2), ("postgresql", 3))
TIMEOUT = 900.0


def measure(session: Session) -> dict[str, Any]:
    """Daemons on one PostgreSQL server vs one on SQLite."""
    workdir = session.run_dir / "ingest-pg"
    quick = session.args.quick
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.postgres_server import HOW_TO_GET, PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(HOW_TO_GET)
    per_daemon = 200 if quick else 2000
    template = read_template(FIXTURES / "results" / ARITH)
    server = PostgresServer(bindir, durable=True)
    server.start()
    try:
        with server.admin() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        runs: dict[str, Any] = {}
        for engine, daemons in CONFIGURATIONS:
            name = f"{engine}-{daemons}"
            base = workdir / name
            if engine == "sqlite":
                url = f"sqlite:///{base / 'index.sqlite3'}"
            else:
                url = server.url(server.create_database())
            log(f"ingest-pg: {daemons} daemon(s) on {engine}, {per_daemon} dispatches each")
            runs[name] = _run(base, url, daemons, per_daemon, template)
            log(
                f"ingest-pg: {name}: live {runs[name]['live_per_second']:.0f}/s, "
                f"catch-up {runs[name]['catchup_per_second']:.0f}/s"
            )
    finally:
        server.destroy()
    return {
        "per_daemon": per_daemon,
        "postgresql_version": version,
        "cpus": os.cpu_count(),
        "runs": runs,
    }


def _run(
    base: Path,
    url: str,
    count: int,
    per_daemon: int,
    template: tuple[str, dict[str, bytes]],
) -> dict[str, Any]:
    hosts = [f"host{i + 1}" for i in range(count)]
    roots = {host: base / f"{host}-results" for host in hosts}
    daemons = {}
    for host in hosts:
        roots[host].mkdir(parents=True)
        home = base / host
        config = resolve(home).config_file
        ensure_private_dir(config.parent)
        settings = {"host": host, "db": url, "roots": [{"path": str(roots[host])}]}
        config.write_bytes(tomli_w.dumps(settings).encode())
        daemons[host] = DaemonProcess(home, base / f"{host}.stderr")
    counter = _counter(url)

    def write_all() -> float:
        """Save per_daemon dispatches in every root at once; how long it took."""
        started = time.monotonic()

        def write(root: Path) -> None:
            for _ in range(per_daemon):
                write_dispatch(root, *with_new_id(template))

        threads = [threading.Thread(target=write, args=(roots[h],)) for h in hosts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - started

    def wait_until(total: int, started: float) -> float:
        while counter() < total:
            if time.monotonic() - started > TIMEOUT:
                raise RuntimeError(f"only {counter()} of {total} indexed after {TIMEOUT:.0f}s")
            time.sleep(0.05)
        return time.monotonic() - started

    total = count * per_daemon
    try:
        for daemon in daemons.values():
            daemon.start(60)
        started = time.monotonic()
        write_seconds = write_all()
        live_seconds = wait_until(total, started)
        for daemon in daemons.values():
            daemon.stop()
        catchup_write = write_all()
        started = time.monotonic()
        # Started at once, as machines would be: start() returns once a
        # daemon's first scan (the catch-up) is done.
        starting = [
            threading.Thread(target=daemon.start, args=(TIMEOUT,)) for daemon in daemons.values()
        ]
        for thread in starting:
            thread.start()
        catchup_seconds = wait_until(2 * total, started)
        for thread in starting:
            thread.join()
    finally:
        for daemon in daemons.values():
            daemon.stop()
    return {
        "daemons": count,
        "dispatches": total,
        "write_seconds": round(write_seconds, 2),
        "live_seconds": round(live_seconds, 2),
        "live_per_second": round(total / live_seconds, 1),
        "catchup_write_seconds": round(catchup_write, 2),
        "catchup_seconds": round(catchup_seconds, 2),
        "catchup_per_second": round(total / catchup_seconds, 1),
        "load_average_after": os.getloadavg()[0],
    }


def _counter(url: str) -> Callable[[], int]:
    """How many dispatches the index holds, read without the library."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]

        def count_sqlite() -> int:
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
                    return conn.execute("SELECT count(*) FROM dispatch").fetchone()[0]
            except sqlite3.Error:
                return 0

        return count_sqlite
    import psycopg

    def count_postgres() -> int:
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                return conn.execute("SELECT count(*) FROM dispatch").fetchone()[0]
        except psycopg.Error:
            return 0

    return count_postgres


def table_rows(measure: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, value, baseline) rows for the bench's table."""
    rows = []
    runs = measure["runs"]
    baseline = runs.get("sqlite-1")
    for name, run in runs.items():
        engine, daemons = name.rsplit("-", 1)
        label = f"ingest, {daemons} daemon(s) on {engine}, {run['dispatches']:,} dispatches"
        value = f"live {run['live_per_second']:.0f}/s, catch-up {run['catchup_per_second']:.0f}/s"
        base = "-"
        if baseline is not None and run is not baseline:
            base = (
                f"1 on SQLite: live {baseline['live_per_second']:.0f}/s, "
                f"catch-up {baseline['catchup_per_second']:.0f}/s"
            )
        rows.append((label, value, base))
    return rows
