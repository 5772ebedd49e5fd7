"""Covalent's dispatcher database (0.136 on), read-only and schema-adaptive.

The server keeps every dispatch's state in SQLite through SQLAlchemy and
migrates it with Alembic; each release adds and drops columns (0.240 is at
revision ``7e9fb153ecfb``; the asset tables arrived with ``1142d81b29b8``).
So nothing here assumes a layout: each table's columns come from
``PRAGMA table_info``, a query names only the columns that exist, and a
missing optional column reads as None.

The file is opened through a ``mode=ro`` URI: we never write, create, or
take a write lock. The server writes in rollback-journal mode, where a
writer's commit locks readers out for a moment; that is retried briefly and
then reported as ``CovalentDbBusyError`` ("try later"), never as damage.
Every read of one snapshot runs in one read transaction, so the rows agree
with each other, and the transaction is kept short because in this mode a
reader's shared lock holds a committing writer back.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import CovalentDbBusyError, CovalentDbError
from ..records import latest
from .dbmarks import MarkRow, high_water, mark_rows
from .dbrows import (
    AssetRow,
    EdgeRow,
    ElectronRow,
    LatticeRow,
    Schema,
    asset_rows,
    edge_rows,
    electron_rows,
    lattice_rows,
    since_text,
)

__all__ = [
    "AssetRow",
    "CovalentDb",
    "CovalentDbBusyError",
    "CovalentDbError",
    "EdgeRow",
    "ElectronRow",
    "LatticeRow",
    "MarkRow",
    "Marks",
    "Schema",
    "Snapshot",
]

# SQLite waits this long on a lock before answering "busy"; we then retry
# until BUSY_WAIT has passed. Covalent's commits take milliseconds.
BUSY_TIMEOUT = 0.25
BUSY_WAIT = 2.0
# Dispatch ids per IN (...) query: under SQLite's old 999-variable limit.
_CHUNK = 500


@dataclass
class Snapshot:
    """Rows read in one transaction: the dispatches and everything below them."""

    schema: Schema
    lattices: list[LatticeRow]
    electrons: list[ElectronRow]
    edges: list[EdgeRow]
    assets: list[AssetRow]
    # The latest updated_at among the rows read: the next sync's ``since``.
    high_water: datetime | None


@dataclass
class Marks:
    """The cheap pass (``dbmarks``): one row per dispatch, read in one transaction."""

    schema: Schema
    rows: list[MarkRow]
    # The latest updated_at among the rows read: the whole database's when
    # all were read, or when read ``since`` a time at or before it.
    high_water: datetime | None


class CovalentDb:
    """One Covalent dispatcher database, opened read-only per use."""

    def __init__(
        self,
        path: str | Path,
        busy_timeout: float = BUSY_TIMEOUT,
        busy_wait: float = BUSY_WAIT,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.busy_wait = busy_wait

    def schema(self) -> Schema:
        with self._transaction() as conn:
            return self._read_schema(conn)

    def snapshot(
        self,
        since: datetime | None = None,
        dispatch_ids: Iterable[str] | None = None,
        asset_keys: tuple[str, ...] | None = None,
        skip_task_status: str | None = None,
    ) -> Snapshot:
        """Every dispatch (or those changed at or after ``since``, or those
        named) with its tasks, edges and assets (all, or those of
        ``asset_keys``, none of tasks in ``skip_task_status``).

        ``since`` is inclusive: Covalent's ``updated_at`` has whole seconds,
        so rows written in the same second as the last sync are read again.
        """
        with self._transaction() as conn:
            schema = self._read_schema(conn)
            ids = _wanted(conn, schema, since, dispatch_ids)
            lattices = _chunked(ids, lambda chunk: lattice_rows(conn, schema, chunk))
            by_row = {row.row_id: row for row in lattices}
            # A read of some assets only finds files by the asset tables.
            filenames = asset_keys is None or not schema.has("assets")
            electrons = _chunked(
                list(by_row), lambda chunk: electron_rows(conn, schema, chunk, by_row, filenames)
            )
            # Sub-workflows name their parent task by row id; resolve it to
            # the parent's dispatch id and node id in one more query.
            lattices = _link_parents(conn, schema, lattices)
            ids_by_row = {e.row_id: e for e in electrons}
            edges = _chunked(list(by_row), lambda chunk: edge_rows(conn, schema, chunk, ids_by_row))
            assets = _chunked(
                list(by_row),
                lambda chunk: asset_rows(
                    conn, schema, chunk, by_row, ids_by_row, asset_keys, skip_task_status
                ),
            )
        times = [r.updated_at for r in lattices] + [e.updated_at for e in electrons]
        return Snapshot(
            schema=schema,
            lattices=lattices,
            electrons=electrons,
            edges=edges,
            assets=assets,
            high_water=latest(times),
        )

    def marks(
        self, since: datetime | None = None, dispatch_ids: Iterable[str] | None = None
    ) -> Marks:
        """The cheap pass over every dispatch (or those changed at or after
        ``since``, or those named): what tells a changed one from the rest."""
        with self._transaction() as conn:
            schema = self._read_schema(conn)
            ids = _wanted(conn, schema, since, dispatch_ids)
            rows = _chunked(ids, lambda chunk: mark_rows(conn, schema, chunk))
        return Marks(schema=schema, rows=rows, high_water=high_water(rows))

    def dispatch_ids(self) -> list[str]:
        """Every dispatch id in the database: a full reconciliation's list."""
        with self._transaction() as conn:
            return [row[0] for row in conn.execute("SELECT dispatch_id FROM lattices")]

    def _read_schema(self, conn: sqlite3.Connection) -> Schema:
        # The one query of another engine's reader (``scan.covalent_pg``) that differs.
        return _schema(conn)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        deadline = time.monotonic() + self.busy_wait
        while True:
            try:
                conn = self._connect()
                try:
                    conn.execute("BEGIN")
                    # Take the shared lock now, so a busy file fails here
                    # (and is retried) rather than halfway through the reads.
                    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                    break
                except BaseException:
                    conn.close()
                    raise
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise self._damage(exc) from None
                if time.monotonic() >= deadline:
                    raise CovalentDbBusyError(
                        f"{self.path}: busy (Covalent is writing it), try later"
                    ) from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                raise self._damage(exc) from None
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            raise (
                CovalentDbBusyError(f"{self.path}: busy (Covalent is writing it), try later")
                if _is_busy(exc)
                else self._damage(exc)
            ) from None
        except sqlite3.DatabaseError as exc:
            raise self._damage(exc) from None
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise CovalentDbError(f"{self.path}: no such database file")
        uri = self.path.absolute().as_uri() + "?mode=ro"
        # isolation_level=None: we issue BEGIN ourselves, and nothing else.
        conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _damage(self, exc: sqlite3.DatabaseError) -> CovalentDbError:
        return CovalentDbError(f"{self.path}: cannot be read as Covalent's database: {exc}")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    # "locked"/"busy": a writer holds the file. A hot journal left by a
    # writer that is still running cannot be rolled back read-only either,
    # and the writer will finish it: busy too.
    return "locked" in text or "busy" in text or "readonly database" in text


def _schema(conn: sqlite3.Connection) -> Schema:
    found = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    tables = [row[0] for row in found]
    columns = {
        table: frozenset(row[1] for row in conn.execute(f'PRAGMA table_info("{_ident(table)}")'))
        for table in tables
    }
    if "lattices" not in columns:
        raise sqlite3.DatabaseError("no lattices table: not a Covalent dispatcher database")
    revision = None
    if "alembic_version" in columns:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    return Schema(revision=revision, columns=columns)


def _ident(name: str) -> str:
    return name.replace('"', '""')


def _wanted(
    conn: sqlite3.Connection,
    schema: Schema,
    since: datetime | None,
    dispatch_ids: Iterable[str] | None,
) -> list[str] | None:
    """The dispatch ids to read: None for all."""
    ids = None if dispatch_ids is None else list(dict.fromkeys(dispatch_ids))
    if since is not None:
        changed = _changed_ids(conn, schema, since_text(since))
        ids = list(changed) if ids is None else [i for i in ids if i in changed]
    return ids


def _changed_ids(conn: sqlite3.Connection, schema: Schema, since: str) -> dict[str, None]:
    # A task's write need not touch its dispatch's row, so both count.
    ids: dict[str, None] = {}
    if schema.has("lattices", "updated_at"):
        for row in conn.execute("SELECT dispatch_id FROM lattices WHERE updated_at >= ?", (since,)):
            ids[row[0]] = None
    if schema.has("electrons", "updated_at") and schema.has("electrons", "parent_lattice_id"):
        # The tasks' lattice row ids first, then their dispatch ids: joined
        # in one query, SQLite walks every lattice and searches its tasks
        # (five times slower at 100,000 dispatches than this scan).
        rows = [
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT parent_lattice_id FROM electrons WHERE updated_at >= ?", (since,)
            )
        ]
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT dispatch_id FROM lattices WHERE id IN ({marks})",  # noqa: S608 - only '?' marks
                chunk,
            ):
                ids[row[0]] = None
    return ids


def _chunked(ids: list[Any] | None, query: Any) -> list[Any]:
    if ids is None:
        return list(query(None))
    out: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        out.extend(query(ids[start : start + _CHUNK]))
    return out


def _link_parents(
    conn: sqlite3.Connection, schema: Schema, lattices: list[LatticeRow]
) -> list[LatticeRow]:
    wanted = [row.electron_id for row in lattices if row.electron_id is not None]
    if not wanted or not schema.has("electrons", "parent_lattice_id"):
        return lattices
    links: dict[int, tuple[str, int | None]] = {}
    has_node = schema.has("electrons", "transport_graph_node_id")
    node = "e.transport_graph_node_id" if has_node else "NULL"
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT e.id, l.dispatch_id, {node} FROM electrons e"  # noqa: S608 - only '?' marks
            f" JOIN lattices l ON l.id = e.parent_lattice_id WHERE e.id IN ({marks})",
            chunk,
        ):
            links[row[0]] = (row[1], row[2])
    out = []
    for row in lattices:
        link = links.get(row.electron_id) if row.electron_id is not None else None
        if link is not None:
            row = row.with_parent(link[0], link[1])
        out.append(row)
    return out
