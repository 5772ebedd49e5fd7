"""The cheap pass over Covalent's dispatcher database: per dispatch, only
what says whether it changed since the last sync.

A sync of a server with 100,000 dispatches must not rebuild 100,000 records
(read every task, asset link and log, preview every result) to learn that
three of them moved. This pass reads one row per dispatch: its ``lattices``
row, the latest times among its tasks (one aggregate query, not the tasks),
and where its result asset is. ``scan.server`` turns that into the same
mark (result asset's stat, last event) the store keeps, and builds the full
record (``modern``) only of the dispatches whose mark moved.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..records import latest
from .dbrows import AssetRow, LatticeRow, Schema, lattice_rows, parse_time

__all__ = ["MarkRow", "mark_rows"]


@dataclass(frozen=True)
class MarkRow:
    """One dispatch as the cheap pass sees it."""

    lattice: LatticeRow
    # The latest start, end and write among its tasks (None if it has none),
    # and the latest write alone (for the high water).
    tasks_latest: dt.datetime | None
    tasks_updated: dt.datetime | None
    # Where its ``result`` asset is, as recorded (None: no asset tables, or none yet).
    result: AssetRow | None

    @property
    def last_event(self) -> dt.datetime | None:
        """How far along the database has this dispatch: what a change of
        status, a task finishing or any write to its row moves."""
        row = self.lattice
        return latest([row.started_at, row.completed_at, row.updated_at, self.tasks_latest])

    @property
    def updated(self) -> dt.datetime | None:
        """Its latest write, or its tasks'."""
        return latest([self.lattice.updated_at, self.tasks_updated])


def mark_rows(
    conn: sqlite3.Connection, schema: Schema, dispatch_ids: list[str] | None
) -> list[MarkRow]:
    """The cheap pass over every dispatch (or those named, at most a few
    hundred: one IN list)."""
    lattices = lattice_rows(conn, schema, dispatch_ids)
    by_row = {row.row_id: row for row in lattices}
    row_ids = None if dispatch_ids is None else list(by_row)
    tasks = _tasks_latest(conn, schema, row_ids)
    results = _result_assets(conn, schema, row_ids, by_row)
    return [
        MarkRow(
            lattice=row,
            tasks_latest=tasks.get(row.row_id, (None, None))[0],
            tasks_updated=tasks.get(row.row_id, (None, None))[1],
            result=results.get(row.row_id),
        )
        for row in lattices
    ]


def _in(column: str, ids: list[Any] | None) -> tuple[str, list[Any]]:
    if ids is None:
        return "", []
    return f" AND {column} IN ({','.join('?' * len(ids))})", list(ids)


def _tasks_latest(
    conn: sqlite3.Connection, schema: Schema, row_ids: list[int] | None
) -> dict[int, tuple[dt.datetime | None, dt.datetime | None]]:
    if not schema.has("electrons", "parent_lattice_id") or row_ids == []:
        return {}
    # MAX over the text SQLAlchemy stores ("2026-11-30 09:46:52.893841"),
    # whose order is time order; a column the schema lacks is NULL.
    cols = [
        f'MAX(e."{c}")' if schema.has("electrons", c) else "NULL"
        for c in ("started_at", "completed_at", "updated_at")
    ]
    where, args = _in("e.parent_lattice_id", row_ids)
    sql = f"SELECT e.parent_lattice_id, {', '.join(cols)} FROM electrons e WHERE 1{where} GROUP BY e.parent_lattice_id"  # noqa: E501, S608 - names from PRAGMA, values as '?'
    out = {}
    for row in conn.execute(sql, args):
        updated = parse_time(row[3])
        out[row[0]] = (latest([parse_time(row[1]), parse_time(row[2]), updated]), updated)
    return out


def _result_assets(
    conn: sqlite3.Connection,
    schema: Schema,
    row_ids: list[int] | None,
    lattices: dict[int, LatticeRow],
) -> dict[int, AssetRow]:
    if (
        not (
            schema.has("lattice_assets", "meta_id")
            and schema.has("assets", "object_key")
            and schema.has("assets", "storage_path")
        )
        or row_ids == []
    ):
        return {}
    where, args = _in("la.meta_id", row_ids)
    sql = f"SELECT la.meta_id, a.storage_path, a.object_key FROM lattice_assets la JOIN assets a ON a.id = la.asset_id WHERE la.\"key\" = 'result'{where}"  # noqa: E501, S608
    out = {}
    for owner, storage_path, object_key in conn.execute(sql, args):
        lattice = lattices.get(owner)
        if lattice is None:
            continue
        out[owner] = AssetRow(
            dispatch_id=lattice.dispatch_id,
            node_id=None,
            key="result",
            storage_type=None,
            storage_path=storage_path if isinstance(storage_path, str) else None,
            object_key=object_key if isinstance(object_key, str) else None,
            size=None,
            digest=None,
        )
    return out
