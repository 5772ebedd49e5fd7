"""The cheap pass over Covalent's dispatcher database: per dispatch, only
what says whether it changed since the last sync.

A sync of a server with 100,000 dispatches must not rebuild 100,000 records
(read every task, asset link and log, preview every result) to learn that
three of them moved. This pass reads one row per dispatch: a few columns of
its ``lattices`` row, the latest times among its tasks (one aggregate
query, not the tasks), and where its result asset is. ``scan.server`` turns that into the same
mark (result asset's stat, last event) the store keeps, and builds the full
record (``modern``) only of the dispatches whose mark moved.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any

from .dbrows import Schema, in_list, parse_time

__all__ = ["MarkRow", "high_water", "mark_rows"]


@dataclass(frozen=True)
class MarkRow:
    """One dispatch as the cheap pass sees it: where its files are recorded
    and how far along the database has it."""

    dispatch_id: str
    storage_path: str | None
    results_dir: str | None
    # Before the asset tables: the result's file name below storage_path.
    results_filename: str | None
    # Its ``result`` asset's recorded place (None: no asset tables, or none yet).
    result_storage_path: str | None
    result_object_key: str | None
    # The latest start, end or write of the dispatch or any of its tasks:
    # what a change of status, a task finishing or any write to its rows moves.
    last_event: dt.datetime | None
    # Its latest write (or its tasks'), as stored: for the high water.
    updated: str | None


_LATTICE = (
    "storage_path", "results_dir", "results_filename", "started_at", "completed_at", "updated_at",
)  # fmt: skip


def mark_rows(
    conn: sqlite3.Connection, schema: Schema, dispatch_ids: list[str] | None
) -> list[MarkRow]:
    """The cheap pass over every dispatch (or those named, at most a few
    hundred: one IN list). Raw rows, one time parsed per dispatch: at
    100,000 dispatches building full rows was most of a sync's cost."""
    cols = ", ".join(f'l."{c}"' if schema.has("lattices", c) else "NULL" for c in _LATTICE)
    where, args = in_list("l.dispatch_id", dispatch_ids)
    sql = f"SELECT l.id, l.dispatch_id, {cols} FROM lattices l{where}"  # noqa: S608
    lattices = conn.execute(sql, args).fetchall()
    row_ids = None if dispatch_ids is None else [r[0] for r in lattices]
    tasks = _tasks_latest(conn, schema, row_ids)
    results = _result_assets(conn, schema, row_ids)
    out = []
    for row_id, dispatch_id, storage, results_dir, filename, *times in lattices:
        task_times = tasks.get(row_id, ())
        texts = [t for t in (*times, *task_times) if isinstance(t, str) and t]
        updates = [t for t in (times[2], *task_times[2:]) if isinstance(t, str) and t]
        result = results.get(row_id, (None, None))
        out.append(
            MarkRow(
                dispatch_id=str(dispatch_id),
                storage_path=_text(storage),
                results_dir=_text(results_dir),
                results_filename=_text(filename),
                result_storage_path=_text(result[0]),
                result_object_key=_text(result[1]),
                # Text order is time order in the format SQLAlchemy writes.
                last_event=parse_time(max(texts)) if texts else None,
                updated=max(updates) if updates else None,
            )
        )
    return out


def high_water(rows: list[MarkRow]) -> dt.datetime | None:
    """The latest write among ``rows``."""
    updates = [r.updated for r in rows if r.updated]
    return parse_time(max(updates)) if updates else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _tasks_latest(
    conn: sqlite3.Connection, schema: Schema, row_ids: list[int] | None
) -> dict[int, tuple[Any, Any, Any]]:
    """Per dispatch (row id): its tasks' latest start, end and write, as stored."""
    if not schema.has("electrons", "parent_lattice_id") or row_ids == []:
        return {}
    cols = [
        f'MAX(e."{c}")' if schema.has("electrons", c) else "NULL"
        for c in ("started_at", "completed_at", "updated_at")
    ]
    where, args = in_list("e.parent_lattice_id", row_ids)
    sql = f"SELECT e.parent_lattice_id, {', '.join(cols)} FROM electrons e{where} GROUP BY e.parent_lattice_id"  # noqa: E501, S608 - names from PRAGMA, values as '?'
    return {row[0]: tuple(row[1:]) for row in conn.execute(sql, args)}


def _result_assets(
    conn: sqlite3.Connection, schema: Schema, row_ids: list[int] | None
) -> dict[int, tuple[Any, Any]]:
    """Per dispatch (row id): its result asset's storage_path and object_key."""
    if (
        not (
            schema.has("lattice_assets", "meta_id")
            and schema.has("assets", "object_key")
            and schema.has("assets", "storage_path")
        )
        or row_ids == []
    ):
        return {}
    where, args = in_list("la.meta_id", row_ids, "AND")
    sql = f"SELECT la.meta_id, a.storage_path, a.object_key FROM lattice_assets la JOIN assets a ON a.id = la.asset_id WHERE la.\"key\" = 'result'{where}"  # noqa: E501, S608
    return {row[0]: (row[1], row[2]) for row in conn.execute(sql, args)}
