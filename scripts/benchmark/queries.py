"""Measure 5, queries: rows synthesized into a fresh index, then the same
questions asked through the Python API, in raw SQL (the floor under it) and
through the HTTP API."""

from __future__ import annotations

import datetime as dt
import http.client
import importlib.util
import random
import shlex
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dispatch_indexer import DispatchIndex
from dispatch_indexer.store.query import Cursor
from dispatch_indexer.store.sorting import SORTS

from .common import distribution, log, percentile, spread
from .database import db_path_of, ro_connect
from .processes import free_port, terminate
from .session import Session
from .synthesize import RARE_STATUS, synthesize


def measure(session: Session) -> dict[str, Any]:
    args = session.args
    home = session.fresh_home("queries")
    t = time.perf_counter()
    ids_sample, db_info = synthesize(home, session.templates, args.queries_n, args.seed)
    synth_seconds = time.perf_counter() - t
    log(f"queries: {args.queries_n:,} rows synthesized in {synth_seconds:.1f}s")
    rng = random.Random(args.seed + 1)
    reps = args.query_reps
    get_ids = [rng.choice(ids_sample) for _ in range(reps)]
    with DispatchIndex(home=home) as index:
        cursors = []
        page = index.list(limit=50)
        while len(cursors) < reps and page.next_cursor:
            cursors.append(page.next_cursor)
            page = index.list(limit=50, cursor=page.next_cursor)
        counts = index.counts()
        if sum(counts.values()) != args.queries_n:
            raise RuntimeError(f"counts add up to {sum(counts.values())}")
        if not cursors:
            raise RuntimeError("the listing has a single page")
        python_ops = python_operations(index, cursors, get_ids)
        python_ops.update(search_and_sort_operations(index, ids_sample))
        python = time_operations(python_ops, reps, args.repeat, args.query_budget)
    conn = ro_connect(db_path_of(home))
    try:
        raw = time_operations(
            sql_operations(conn, cursors, get_ids), reps, args.repeat, args.query_budget
        )
    finally:
        conn.close()
    result: dict[str, Any] = {
        "n": args.queries_n,
        "synthesize_seconds": synth_seconds,
        "counts": counts,
        "database": db_info,
        "repetitions": reps,
        "python": python,
        "raw_sql": raw,
        "targets": {"python_p50_ms": "< 5", "http_p50_ms": "< 15"},
    }
    result["pass_python"] = {op: v["p50_ms"]["median"] < 5 for op, v in python.items()}
    result["against_first_page"] = side_by_side(python)
    result["http"] = _http_queries(session, home, cursors, get_ids)
    if "ops" in result["http"]:
        result["pass_http"] = {
            op: v["p50_ms"]["median"] < 15 for op, v in result["http"]["ops"].items()
        }
    return result


def _http_queries(
    session: Session, home: Path, cursors: list[str], get_ids: list[str]
) -> dict[str, Any]:
    if importlib.util.find_spec("dispatch_indexer.http") is None:
        note = "dispatch_indexer.http is not there yet: HTTP rows skipped"
        session.notes.append(note)
        return {"skipped": note}
    port = free_port()
    log_file = session.run_dir / "logs" / "serve.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "dispatch_indexer",
        "--home",
        str(home),
        "serve",
        "--port",
        str(port),
    ]
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    conn = None
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                tail = log_file.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"serve exited ({proc.returncode}): {tail}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status, _ = http_get(conn, "/api/v1/stats")
                if status == 200:
                    break
            except OSError:
                pass
            if conn is not None:
                conn.close()
                conn = None
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not answer /api/v1/stats within 60s")
            time.sleep(0.1)
        header_ms: dict[str, list[float]] = {}
        ops = http_operations(conn, cursors, get_ids, header_ms)
        timed = time_operations(
            ops, session.args.query_reps, session.args.repeat, session.args.query_budget
        )
        for name, samples in header_ms.items():
            timed[name]["headers_p50_ms"] = percentile(samples, 50)
        stalls = [v["p50_ms"]["median"] - v["headers_p50_ms"] for v in timed.values()]
        if statistics.median(stalls) > 30:
            session.notes.append(
                "HTTP: on the keep-alive connection the body arrives ~"
                f"{statistics.median(stalls):.0f} ms after the headers (median over the "
                "queries): the signature of Nagle's algorithm meeting delayed ACKs, i.e. "
                "the server's sockets lack TCP_NODELAY"
            )
        return {"command": shlex.join(command[1:]), "ops": timed}
    except Exception as exc:  # noqa: BLE001 - HTTP is optional: a note, not a failure
        note = f"HTTP API not measured: {exc}"
        session.notes.append(note)
        return {"error": note}
    finally:
        if conn is not None:
            conn.close()
        terminate(proc, 15)


def python_operations(
    index: DispatchIndex, cursors: list[str], get_ids: list[str]
) -> dict[str, Callable[[int], Any]]:
    return {
        "newest 50": lambda i: index.list(limit=50),
        "newest 50, status=FAILED": lambda i: index.list(status="FAILED", limit=50),
        f"newest 50, status={RARE_STATUS} (rare)": lambda i: index.list(
            status=RARE_STATUS, limit=50
        ),
        "next page by cursor": lambda i: index.list(limit=50, cursor=cursors[i % len(cursors)]),
        "counts by status": lambda i: index.counts(),
        "get by id": lambda i: index.get(get_ids[i % len(get_ids)]),
    }


# Search and sort beside the plain first page (issue 15): each within
# SIDE_BY_SIDE_TARGET times its p50.
PLAIN_PAGE = "newest 50"
SIDE_BY_SIDE_TARGET = 3.0
NO_HIT = "zzqxvwj"


def search_and_sort_operations(
    index: DispatchIndex, ids_sample: list[str]
) -> dict[str, Callable[[int], Any]]:
    """Searches with one hit (the first part of a dispatch id) and none, and
    the first page of each sort, with a cursor a few pages into one."""
    words = [dispatch_id.split("-")[0] for dispatch_id in ids_sample]
    ops: dict[str, Callable[[int], Any]] = {
        "search, one hit": lambda i: _one(index.list(text=words[i % len(words)], limit=50)),
        "search, no hit": lambda i: index.list(text=NO_HIT, limit=50),
        "search, one hit, status=FAILED": lambda i: index.list(
            text=words[i % len(words)], status="FAILED", limit=50
        ),
        "search, common word (newest 50 of many)": lambda i: index.list(text="results", limit=50),
    }
    for sort in SORTS:
        for order in ("desc", "asc"):
            ops[f"sorted by {sort} {order}"] = lambda i, s=sort, o=order: index.list(
                sort=s, order=o, limit=50
            )
    page = index.list(sort="size", order="desc", limit=50)
    for _ in range(4):
        if page.next_cursor:
            page = index.list(sort="size", order="desc", limit=50, cursor=page.next_cursor)
    deep = page.next_cursor
    if deep:
        ops["sorted by size desc, 6th page by cursor"] = lambda i: index.list(
            sort="size", order="desc", limit=50, cursor=deep
        )
    return ops


def _one(page: list[Any]) -> list[Any]:
    if len(page) != 1:
        raise RuntimeError(f"a one-hit search found {len(page)}")
    return page


def side_by_side(python: dict[str, Any]) -> dict[str, Any]:
    """Each search and sort's p50 over the plain first page's."""
    plain = python[PLAIN_PAGE]["p50_ms"]["median"]
    out: dict[str, Any] = {"plain_first_page_p50_ms": plain}
    for name, timed in python.items():
        if name.startswith(("search", "sorted")):
            ratio = timed["p50_ms"]["median"] / plain if plain else float("inf")
            out[name] = {
                "p50_ms": timed["p50_ms"]["median"],
                "ratio": round(ratio, 2),
                "within_3x": ratio <= SIDE_BY_SIDE_TARGET,
            }
    return out


def sql_operations(
    conn: sqlite3.Connection, cursors: list[str], get_ids: list[str]
) -> dict[str, Callable[[int], Any]]:
    """The same questions in plain SQL through sqlite3: the floor under the API."""
    order = "ORDER BY sort_time DESC, dispatch_id DESC LIMIT 51"
    keys = []
    for text in cursors:
        cursor = Cursor.decode(text)
        when = cursor.sort_time.astimezone(dt.timezone.utc).replace(tzinfo=None)
        keys.append((when.isoformat(sep=" ", timespec="microseconds"), cursor.dispatch_id))

    def page(i: int) -> list[Any]:
        when, dispatch_id = keys[i % len(keys)]
        return conn.execute(
            "SELECT * FROM dispatch WHERE sort_time < ? OR (sort_time = ? AND dispatch_id < ?) "
            + order,
            (when, when, dispatch_id),
        ).fetchall()

    return {
        "newest 50": lambda i: conn.execute(f"SELECT * FROM dispatch {order}").fetchall(),
        "newest 50, status=FAILED": lambda i: conn.execute(
            f"SELECT * FROM dispatch WHERE status IN (?) {order}", ("FAILED",)
        ).fetchall(),
        f"newest 50, status={RARE_STATUS} (rare)": lambda i: conn.execute(
            f"SELECT * FROM dispatch WHERE status IN (?) {order}", (RARE_STATUS,)
        ).fetchall(),
        "next page by cursor": page,
        "counts by status": lambda i: conn.execute(
            "SELECT status, count(dispatch_id) FROM dispatch GROUP BY status"
        ).fetchall(),
        "get by id": lambda i: conn.execute(
            "SELECT * FROM dispatch WHERE dispatch_id = ?", (get_ids[i % len(get_ids)],)
        ).fetchone(),
    }


def http_get(conn: http.client.HTTPConnection, url: str) -> tuple[int, bytes]:
    conn.request("GET", url, headers={"Accept": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def http_operations(
    conn: http.client.HTTPConnection,
    cursors: list[str],
    get_ids: list[str],
    header_ms: dict[str, list[float]],
) -> dict[str, Callable[[int], Any]]:
    """The same questions through the HTTP API on one keep-alive connection;
    ``header_ms`` gets how long each response took to its headers."""

    def get(name: str, url: str) -> bytes:
        started = time.perf_counter()
        conn.request("GET", url, headers={"Accept": "application/json"})
        response = conn.getresponse()
        header_ms.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {response.status}: {body[:200]!r}")
        return body

    base = "/api/v1/dispatches"
    quote = urllib.parse.quote
    rare = f"newest 50, status={RARE_STATUS} (rare)"
    return {
        "newest 50": lambda i: get("newest 50", f"{base}?limit=50"),
        "newest 50, status=FAILED": lambda i: get(
            "newest 50, status=FAILED", f"{base}?status=FAILED&limit=50"
        ),
        rare: lambda i: get(rare, f"{base}?status={RARE_STATUS}&limit=50"),
        "next page by cursor": lambda i: get(
            "next page by cursor", f"{base}?limit=50&cursor={quote(cursors[i % len(cursors)])}"
        ),
        "counts by status": lambda i: get("counts by status", "/api/v1/stats"),
        "get by id": lambda i: get("get by id", f"{base}/{quote(get_ids[i % len(get_ids)])}"),
    }


def time_operations(
    ops: dict[str, Callable[[int], Any]], reps: int, repeat: int, budget: float
) -> dict[str, Any]:
    """p50/p99 of each operation over ``reps`` calls, ``repeat`` times; a run of
    one operation stops early once it has taken ``budget`` seconds (and has at
    least 10 samples), so that a slow one cannot take the whole hour."""
    per_run: dict[str, list[dict[str, Any]]] = {name: [] for name in ops}
    pooled: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(repeat):
        for name, op in ops.items():
            for i in range(min(2, reps)):
                op(i)  # warm up
            samples: list[float] = []
            started = time.perf_counter()
            for i in range(reps):
                t = time.perf_counter()
                op(i)
                samples.append((time.perf_counter() - t) * 1000)
                if len(samples) >= 10 and time.perf_counter() - started > budget:
                    break
            per_run[name].append(distribution(samples))
            pooled[name].extend(samples)
    return {
        name: {
            "p50_ms": spread([d["p50"] for d in runs]),
            "p99_ms": spread([d["p99"] for d in runs]),
            "samples_per_run": [d["n"] for d in runs],
            "pooled_ms": distribution(pooled[name]),
        }
        for name, runs in per_run.items()
    }
