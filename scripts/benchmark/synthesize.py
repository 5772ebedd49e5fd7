"""Indexes too big to build by reading: rows shaped like the ones the
indexer writes, copied with their identity varied and loaded around the
store; and folders of hard links to one result.pkl to go with them."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dispatch_indexer import DispatchIndex
from dispatch_indexer import config as config_mod
from dispatch_indexer.read.reader import RESULT_FILE, read_dispatch
from dispatch_indexer.store.engine import sqlite_path

from .common import log
from .corpus import Templates
from .database import db_files_size, table_sizes

LATTICE_WORDS = (
    "train",
    "evaluate",
    "preprocess",
    "featurize",
    "simulate",
    "optimize",
    "sweep",
    "ingest",
    "calibrate",
    "fit",
    "sample",
    "relax",
    "screen",
    "dock",
    "anneal",
)
LATTICE_SUBJECTS = (
    "model",
    "molecule",
    "portfolio",
    "circuit",
    "lattice",
    "dataset",
    "grid",
    "qubits",
    "spectrum",
    "surface",
    "ensemble",
    "pipeline",
)
STATUS_WEIGHTS = (
    ("COMPLETED", 0.887),
    ("FAILED", 0.08),
    ("RUNNING", 0.03),
    ("CANCELLED", 0.002),
    ("NEW_OBJECT", 0.001),
)
RARE_STATUS = "CANCELLED"


LINKS_PER_FILE = 60_000


def ensure_link_tree(workdir: Path, template: Path, n: int) -> Path:
    """``n`` dispatch folders under ``<workdir>/linktree/n<N>/results``, each
    holding a hard link to a copy of ``template``'s result.pkl (a copy per
    LINKS_PER_FILE folders: ext4 allows 65,000 links to a file); built once."""
    folder = workdir / "linktree" / f"n{n}"
    root = folder / "results"
    done = folder / "complete"
    if done.exists() and done.read_text().strip() == str(n):
        log(f"link tree n={n}: reusing {root}")
        return root
    log(f"link tree n={n}: building {root}")
    shutil.rmtree(folder, ignore_errors=True)
    root.mkdir(parents=True)
    rng = random.Random(n)
    started = time.perf_counter()
    source = folder / "result-0.pkl"
    for i in range(n):
        if i % LINKS_PER_FILE == 0:
            source = folder / f"result-{i // LINKS_PER_FILE}.pkl"
            shutil.copyfile(template / RESULT_FILE, source)
        name = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        os.mkdir(root / name)
        os.link(source, root / name / RESULT_FILE)
        if (i + 1) % max(1, n // 10) == 0:
            log(f"link tree n={n}: {i + 1:,} folders")
    done.write_text(f"{n}\n")
    log(f"link tree n={n}: built in {time.perf_counter() - started:.0f}s")
    return root


def synthesize_read(home: Path, root: Path, rescan_interval: float) -> None:
    """An index on ``root`` (see ``ensure_link_tree``) whose dispatch and
    location rows say every folder there was read: copies of the rows the
    indexer writes for one of them, with the id and folder varied."""
    names = sorted(os.listdir(root))
    with DispatchIndex(home=home) as index:
        index.add_dirs([root])
        index.config.rescan_interval = rescan_interval
        config_mod.save(index.config, index.paths)
        index.writer().apply([read_dispatch(root / names[0], root=str(root))])
        db = sqlite_path(index.url)
    rows = {}
    with _rows_taken(db) as conn:
        for table in ("dispatch", "location"):
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [c[0] for c in cursor.description]
            rows[table] = (columns, dict(zip(columns, cursor.fetchone(), strict=True)))
    loads = []
    for table, (columns, template) in rows.items():

        def varied(
            template: dict[str, Any] = template, columns: list[str] = columns
        ) -> Iterator[tuple[Any, ...]]:
            for name in names:
                path = f"{root}/{name}"
                st = os.stat(f"{path}/{RESULT_FILE}")
                row = dict(
                    template,
                    dispatch_id=name,
                    path=path,
                    size=st.st_size,
                    mtime_ns=st.st_mtime_ns,
                    inode=st.st_ino,
                )
                yield tuple(row[c] for c in columns)

        loads.append((table, columns, varied()))
    bulk_load(home, db, loads)


@contextlib.contextmanager
def _rows_taken(db: Path) -> Iterator[sqlite3.Connection]:
    """A connection of the bench's own to the index file, whose rows are
    deleted when the block ends: the bench reads the rows the indexer wrote
    for a template, then writes its copies of them around the store."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        yield conn
        conn.execute("BEGIN")
        for table in ("result_blob", "location", "dispatch"):
            conn.execute(f'DELETE FROM "{table}"')
        conn.execute("COMMIT")
    finally:
        conn.close()


def bulk_load(
    home: Path, db: Path, loads: list[tuple[str, list[str], Iterable[tuple[Any, ...]]]]
) -> None:
    """Insert rows around the store (sqlite3's executemany, in one
    transaction), then fold the log of count changes their triggers made,
    as the store's own writes do as they go (counters), and checkpoint."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        # Only the loading connection: a big cache, no fsync. The rows are the same.
        conn.execute("PRAGMA cache_size = -1048576")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        for table, columns, rows in loads:
            placeholders = ", ".join("?" for _ in columns)
            sql = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({placeholders})'
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
    with DispatchIndex(home=home) as index:
        index.writer().compact_counts()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def synthesize(
    home: Path, templates: Templates, n: int, seed: int
) -> tuple[list[str], dict[str, Any]]:
    """A fresh index whose dispatch table holds ``n`` realistic rows, inserted
    with sqlite3's executemany. Rows are shaped like real ones: each is a copy
    of the row the indexer itself wrote for a fixture dispatch, with the
    identity, status, names, folders and times varied."""
    rows_by_status: dict[str, list[dict[str, Any]]] = {}
    with DispatchIndex(home=home) as index:
        folders = [*templates.finished, templates.running]
        if templates.new_object is not None:
            folders.append(templates.new_object)
        db = sqlite_path(index.url)
        for folder in folders:
            assert folder is not None
            outcome = read_dispatch(folder, root=str(folder.parent))
            index.writer().apply([outcome])
            with _rows_taken(db) as conn:
                cursor = conn.execute(
                    "SELECT * FROM dispatch WHERE dispatch_id = ?", (outcome.record.dispatch_id,)
                )
                names = [c[0] for c in cursor.description]
                row = dict(zip(names, cursor.fetchone(), strict=True))
            rows_by_status.setdefault(row["status"], []).append(row)
    table = "dispatch"
    rows_by_status.setdefault(RARE_STATUS, [dict(r) for r in rows_by_status["COMPLETED"]])
    columns = list(rows_by_status["COMPLETED"][0])
    sample_time = rows_by_status["COMPLETED"][0]["sort_time"]
    sep = "T" if isinstance(sample_time, str) and "T" in sample_time else " "

    def stamp(seconds: float) -> str:
        moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)
        return moment.isoformat(sep=sep, timespec="microseconds")

    rng = random.Random(seed)
    statuses = [s for s, _ in STATUS_WEIGHTS]
    weights = [w for _, w in STATUS_WEIGHTS]
    lattices = [f"{w}_{s}" for w in LATTICE_WORDS for s in LATTICE_SUBJECTS]
    lattice_weights = [1 / (k + 1) for k in range(len(lattices))]  # Zipf-like
    dirs = [
        f"/home/{user}/{project}/results"
        for user in ("ada", "bo", "chen", "dee")
        for project in (
            "qml",
            "chem",
            "finance",
            "sweeps",
            "scratch",
            "paper-2026",
            "demo",
            "hpc",
            "nightly",
            "tutorials",
        )
    ]
    now = time.time()
    year = 365 * 86400
    sample: list[str] = []
    sample_every = max(1, n // 5000)
    # Inserted in id order so that loading a million rows stays quick; every
    # other column (times, status, names) is random with respect to it.
    ids = sorted(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n))

    def rows() -> Iterator[tuple[Any, ...]]:
        status_draws = rng.choices(statuses, weights, k=n)
        lattice_draws = rng.choices(lattices, lattice_weights, k=n)
        for i in range(n):
            status = status_draws[i]
            base = rng.choice(rows_by_status.get(status) or rows_by_status["COMPLETED"])
            row = dict(base)
            dispatch_id = ids[i]
            if i % sample_every == 0:
                sample.append(dispatch_id)
            results_dir = dirs[i % len(dirs)]
            start = now - rng.random() * year
            unfinished = status in ("RUNNING", "NEW_OBJECT")
            end = None if unfinished else start + rng.lognormvariate(4, 1.5)
            written = end or start
            row.update(
                dispatch_id=dispatch_id,
                status=status,
                lattice_name=lattice_draws[i],
                start_time=None if status == "NEW_OBJECT" else stamp(start),
                end_time=None if end is None else stamp(end),
                path=f"{results_dir}/{dispatch_id}",
                results_dir=results_dir,
                root=results_dir,
                size=rng.randint(4000, 15000),
                mtime_ns=int(written * 1e9),
                inode=rng.getrandbits(31),
                sha256=f"{rng.getrandbits(256):064x}",
                missing=1 if rng.random() < 0.003 else 0,
                first_seen=stamp(start + 0.5),
                updated_at=stamp(written + 0.05),
                last_event=stamp(written),
                read_at=stamp(written + 0.05),
                sort_time=stamp(start),
            )
            if "folder_size" in row:
                row["folder_size"] = rng.randint(5_000, 50_000_000)
            if status == RARE_STATUS:
                row["error"] = None
            yield tuple(row.get(c) for c in columns)

    bulk_load(home, db, [(table, columns, rows())])
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        tables = table_sizes(conn)
    finally:
        conn.close()
    sizes = db_files_size(db)
    info = {
        "bytes": sizes,
        "bytes_per_record": (sizes["db"] + sizes["wal"]) / n,
        "table_bytes": tables,
        "note": "dispatch rows only (no stored result.pkl bytes, no location rows)",
    }
    return sample, info
