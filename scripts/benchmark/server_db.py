"""A Covalent server of N dispatches, synthesized from the 0.240 fixture's
rows: one dispatcher database (SQLite, rollback-journal mode, as Covalent
writes it) and a data dir beside it.

Each copy of the fixture's 11 dispatches gets new UUIDs; its rows in every
table are the fixture's, with row ids shifted by the copy's number times
the table's largest id (so foreign keys stay right) and every dispatch id
inside text (ids, storage paths, object keys) replaced by the copy's. All
of it is INSERT ... SELECT inside SQLite, a few thousand copies per
statement. The data dir holds, per dispatch, only what a sync reads: its
result asset and its logs, hard-linked from one private copy of the
fixture's files.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

from .common import REPO, log

FIXTURES_240 = Path(
    os.environ.get("COVALENT_INDEXER_FIXTURES_240", REPO.parent / "shared/fixtures/covalent-0.240")
)
DB_NAME = "dispatcher_db.sqlite"
# Copies per INSERT ... SELECT (each statement is one transaction's part).
COPIES_PER_STATEMENT = 2000
# A result past this size is "heavy" (kept only now and then).
LARGE = 64 * 1024
# Columns holding another table's row id: (table, column) -> that table.
_FOREIGN = {
    ("lattices", "electron_id"): "electrons",
    ("electrons", "parent_lattice_id"): "lattices",
    ("electrons", "job_id"): "jobs",
    ("electron_dependency", "electron_id"): "electrons",
    ("electron_dependency", "parent_electron_id"): "electrons",
    ("lattice_assets", "meta_id"): "lattices",
    ("lattice_assets", "asset_id"): "assets",
    ("electron_assets", "meta_id"): "electrons",
    ("electron_assets", "asset_id"): "assets",
}
# Text columns that may name a dispatch id (paths below its folder too).
_NAMING = {"dispatch_id", "root_dispatch_id", "storage_path", "object_key", "results_dir"}


@dataclass
class Server:
    folder: Path
    database: Path
    data: Path
    n: int
    ids: list[str]


def ensure_server(workdir: Path, n: int, heavy_every: int) -> Server:
    """The synthesized server of (about) ``n`` dispatches: 11 per copy of
    the fixture, so ``n`` rounded up to a multiple of 11. Built once.
    The fixture's large results (1 MB, 220 kB) are kept in one copy in
    ``heavy_every``/11 (0: never), as the legacy corpus keeps its heavy
    dispatch; the others get a small one."""
    copies = max(1, -(-n // 11))
    folder = workdir / f"server-{copies * 11}-heavy{heavy_every}"
    server = Server(folder, folder / DB_NAME, folder / "data", copies * 11, [])
    if (folder / "done").exists():
        with sqlite3.connect(server.database) as conn:
            server.ids = [r[0] for r in conn.execute("SELECT dispatch_id FROM lattices")]
        return server
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    template = folder / "template"
    shutil.copytree(FIXTURES_240 / "server" / "data", template, copy_function=shutil.copyfile)
    shutil.copyfile(FIXTURES_240 / "server" / DB_NAME, server.database)
    server.data.mkdir()
    log(f"server: synthesizing {copies * 11:,} dispatches ({copies:,} copies of the fixture's 11)")
    old_ids, new_ids = _write_rows(server.database, copies)
    _write_files(template, server.data, old_ids, new_ids, max(1, heavy_every // 11))
    server.ids = old_ids + [i for ids in new_ids for i in ids]
    (folder / "done").write_text("")
    return server


def _write_rows(database: Path, copies: int) -> tuple[list[str], list[list[str]]]:
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        old = [r[0] for r in conn.execute("SELECT dispatch_id FROM lattices ORDER BY id")]
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if r[0] != "alembic_version"
        ]
        columns = {t: [r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')] for t in tables}
        largest = {
            t: conn.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{t}"').fetchone()[0]
            for t in tables
            if "id" in columns[t]
        }
        # Only the fixture's own rows are copied, never the copies made so far.
        rows = {
            t: conn.execute(f'SELECT COALESCE(MAX(rowid), 0) FROM "{t}"').fetchone()[0]
            for t in tables
        }
        # Copy 0 is the fixture itself, kept as it is.
        new = [[str(uuid.uuid4()) for _ in old] for _ in range(copies - 1)]
        names = ", ".join(f"n{i} TEXT" for i in range(len(old)))
        conn.execute(f"CREATE TEMP TABLE copies (k INTEGER PRIMARY KEY, {names})")
        conn.executemany(
            f"INSERT INTO copies VALUES (?, {', '.join('?' * len(old))})",
            [(k + 1, *ids) for k, ids in enumerate(new)],
        )
        for start in range(1, copies, COPIES_PER_STATEMENT):
            end = start + COPIES_PER_STATEMENT
            conn.execute("BEGIN")
            for table in tables:
                cols = columns[table]
                exprs = [_expression(table, c, old, largest) for c in cols]
                quoted = ", ".join(f'"{c}"' for c in cols)
                conn.execute(
                    f'INSERT INTO "{table}" ({quoted}) SELECT {", ".join(exprs)}'
                    f' FROM "{table}" t CROSS JOIN copies c'
                    f" WHERE c.k >= {start} AND c.k < {end} AND t.rowid <= {rows[table]}"
                )
            conn.execute("COMMIT")
            log(f"server: rows of {min(end, copies) * 11:,} dispatches written")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return old, new


def _expression(table: str, column: str, old: list[str], largest: dict[str, int]) -> str:
    ref = f't."{column}"'
    if column == "id":
        return f"{ref} + c.k * {largest[table]}"
    target = _FOREIGN.get((table, column))
    if target is not None:
        return f"CASE WHEN {ref} IS NULL THEN NULL ELSE {ref} + c.k * {largest[target]} END"
    if column in _NAMING:
        expr = ref
        for i, dispatch_id in enumerate(old):
            expr = f"replace({expr}, '{dispatch_id}', c.n{i})"
        return expr
    return ref


def _write_files(
    template: Path, data: Path, old: list[str], new: list[list[str]], heavy_every: int
) -> None:
    """Per dispatch, its result asset and logs, hard-linked from the template
    (a small result in place of a large one, but in every ``heavy_every``th copy)."""
    wanted: dict[str, list[str]] = {}
    for dispatch_id in old:
        files = []
        for folder, _dirs, names in os.walk(template / dispatch_id):
            for name in names:
                if name.endswith((".log", ".txt")) or name == "results.tobj":
                    files.append(
                        os.path.relpath(os.path.join(folder, name), template / dispatch_id)
                    )
        wanted[dispatch_id] = sorted(files)
    small = min(template.glob("*/node_*/results.tobj"), key=lambda p: p.stat().st_size)
    # Copy 0: the fixture's own dispatches, whole.
    for dispatch_id in old:
        shutil.copytree(template / dispatch_id, data / dispatch_id, copy_function=os.link)
    for k, ids in enumerate(new, start=1):
        for source_id, dispatch_id in zip(old, ids, strict=True):
            target = data / dispatch_id
            made: set[str] = set()
            for rel in wanted[source_id]:
                parent = os.path.dirname(rel)
                if parent not in made:
                    os.makedirs(target / parent, exist_ok=True)
                    made.add(parent)
                source = template / source_id / rel
                if k % heavy_every and source.stat().st_size > LARGE:
                    source = small
                os.link(source, target / rel)


def mark_running(server: Server, how_many: int) -> list[str]:
    """Set ``how_many`` finished dispatches (of the copies) RUNNING again,
    as if still in progress: the ones the live measure completes."""
    with sqlite3.connect(server.database, isolation_level=None) as conn:
        rows = conn.execute(
            "SELECT dispatch_id FROM lattices WHERE status = 'COMPLETED' AND electron_id IS NULL"
            " AND id > 11 ORDER BY id LIMIT ?",
            (how_many,),
        ).fetchall()
        ids = [r[0] for r in rows]
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        conn.execute("BEGIN")
        conn.executemany(
            "UPDATE lattices SET status = 'RUNNING', completed_at = NULL, updated_at = ?"
            " WHERE dispatch_id = ?",
            [(stamp, i) for i in ids],
        )
        conn.execute("COMMIT")
    return ids
