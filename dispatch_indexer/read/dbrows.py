"""The rows of Covalent's dispatcher database as plain dataclasses.

Each builder selects only the columns the schema has (``Schema.has``) and
fills the rest with None, so one reader serves every revision. Times are
stored by SQLAlchemy as naive text (``2026-11-30 09:46:52.893841``): Covalent
0.240 writes ``datetime.now(timezone.utc)`` and SQLite's own
``CURRENT_TIMESTAMP`` defaults are UTC, so naive means UTC here (checked
against what Covalent's API reported in the fixture's ``manifest.json``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any

from .covalent_result import utc

__all__ = [
    "AssetRow",
    "EdgeRow",
    "ElectronRow",
    "LatticeRow",
    "Schema",
    "parse_time",
    "since_text",
]


@dataclass(frozen=True)
class Schema:
    """The database's Alembic revision and each table's columns."""

    revision: str | None
    columns: dict[str, frozenset[str]]

    def has(self, table: str, column: str | None = None) -> bool:
        cols = self.columns.get(table)
        return cols is not None and (column is None or column in cols)


@dataclass(frozen=True)
class LatticeRow:
    """One ``lattices`` row: a dispatch (a sub-workflow's own too)."""

    row_id: int
    dispatch_id: str
    name: str | None
    status: str | None
    electron_num: int | None
    completed_electron_num: int | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    storage_path: str | None
    results_dir: str | None
    results_filename: str | None
    error_filename: str | None
    is_active: bool | None
    root_dispatch_id: str | None
    # A sub-workflow's parent task (its electrons row id), resolved to the
    # parent dispatch and the task's node id by ``CovalentDb.snapshot``.
    electron_id: int | None
    parent_dispatch_id: str | None = None
    parent_node_id: int | None = None
    covalent_version: str | None = None

    def with_parent(self, dispatch_id: str, node_id: int | None) -> LatticeRow:
        return replace(self, parent_dispatch_id=dispatch_id, parent_node_id=node_id)


@dataclass(frozen=True)
class ElectronRow:
    """One ``electrons`` row: a task of a dispatch."""

    row_id: int
    dispatch_id: str
    node_id: int | None
    type: str | None
    name: str | None
    status: str | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    storage_path: str | None
    is_active: bool | None
    # Every ``*_filename`` column the schema has, by its name without the
    # suffix (left empty by a lean read of a schema with the asset tables).
    filenames: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EdgeRow:
    """One ``electron_dependency`` row: ``parent_node`` feeds ``child_node``."""

    dispatch_id: str
    child_node: int | None
    parent_node: int | None
    edge_name: str | None
    parameter_type: str | None
    arg_index: int | None


@dataclass(frozen=True)
class AssetRow:
    """Where one asset is: ``storage_path`` (as recorded) plus ``object_key``."""

    dispatch_id: str
    node_id: int | None  # None for a dispatch's own asset
    key: str
    storage_type: str | None
    storage_path: str | None
    object_key: str | None
    size: int | None
    digest: str | None


_LATTICE_COLUMNS = (
    "name", "status", "electron_num", "completed_electron_num", "created_at", "updated_at",
    "started_at", "completed_at", "storage_path", "results_dir", "results_filename",
    "error_filename", "is_active", "root_dispatch_id", "electron_id", "covalent_version",
)  # fmt: skip
_ELECTRON_COLUMNS = (
    "transport_graph_node_id", "type", "name", "status", "created_at", "updated_at",
    "started_at", "completed_at", "storage_path", "is_active",
)  # fmt: skip
_TIMES = ("created_at", "updated_at", "started_at", "completed_at")


def _select(schema: Schema, table: str, alias: str, wanted: tuple[str, ...]) -> str:
    # A column the schema lacks is selected as NULL under its own name, so
    # every row has every key.
    return ", ".join(
        f'{alias}."{c}" AS "{c}"' if schema.has(table, c) else f'NULL AS "{c}"' for c in wanted
    )


def in_list(column: str, ids: list[Any] | None, joiner: str = "WHERE") -> tuple[str, list[Any]]:
    """`` WHERE column IN (?, ...)`` (or ``AND ...``) and its values; nothing
    for None, which is every row."""
    if ids is None:
        return "", []
    return f" {joiner} {column} IN ({','.join('?' * len(ids))})", list(ids)


def lattice_rows(
    conn: sqlite3.Connection, schema: Schema, dispatch_ids: list[str] | None
) -> list[LatticeRow]:
    where, args = in_list("l.dispatch_id", dispatch_ids)
    sql = f"SELECT l.id AS id, l.dispatch_id AS dispatch_id, {_select(schema, 'lattices', 'l', _LATTICE_COLUMNS)} FROM lattices l{where}"  # noqa: E501, S608 - names from PRAGMA, values as '?'
    out = []
    for row in conn.execute(sql, args):
        values = dict(row)
        times = {name: parse_time(values[name]) for name in _TIMES}
        out.append(
            LatticeRow(
                row_id=values["id"],
                dispatch_id=str(values["dispatch_id"]),
                name=_text(values["name"]),
                status=_text(values["status"]),
                electron_num=_int(values["electron_num"]),
                completed_electron_num=_int(values["completed_electron_num"]),
                storage_path=_text(values["storage_path"]),
                results_dir=_text(values["results_dir"]),
                results_filename=_text(values["results_filename"]),
                error_filename=_text(values["error_filename"]),
                is_active=_bool(values["is_active"]),
                root_dispatch_id=_text(values["root_dispatch_id"]),
                electron_id=_int(values["electron_id"]),
                covalent_version=_text(values["covalent_version"]),
                **times,
            )
        )
    return out


def electron_rows(
    conn: sqlite3.Connection,
    schema: Schema,
    lattice_row_ids: list[int] | None,
    lattices: dict[int, Any],
    filenames: bool = True,
) -> list[ElectronRow]:
    if not schema.has("electrons", "parent_lattice_id"):
        return []
    # ``filenames`` False: a lean read, which finds files by the asset
    # tables and need not fetch nine more text columns a task.
    filename_columns = (
        sorted(c for c in schema.columns["electrons"] if c.endswith("_filename"))
        if filenames
        else []
    )
    extra = "".join(f', e."{c}" AS "{c}"' for c in filename_columns)
    where, args = in_list("e.parent_lattice_id", lattice_row_ids)
    sql = f"SELECT e.id AS id, e.parent_lattice_id AS lattice, {_select(schema, 'electrons', 'e', _ELECTRON_COLUMNS)}{extra} FROM electrons e{where}"  # noqa: E501, S608 - names from PRAGMA
    out = []
    for row in conn.execute(sql, args):
        values = dict(row)
        lattice = lattices.get(values["lattice"])
        if lattice is None:
            continue
        out.append(
            ElectronRow(
                row_id=values["id"],
                dispatch_id=lattice.dispatch_id,
                node_id=_int(values["transport_graph_node_id"]),
                type=_text(values["type"]),
                name=_text(values["name"]),
                status=_text(values["status"]),
                storage_path=_text(values["storage_path"]),
                is_active=_bool(values["is_active"]),
                filenames={
                    c.removesuffix("_filename"): values[c]
                    for c in filename_columns
                    if isinstance(values[c], str) and values[c]
                },
                **{name: parse_time(values[name]) for name in _TIMES},
            )
        )
    return out


def edge_rows(
    conn: sqlite3.Connection,
    schema: Schema,
    lattice_row_ids: list[int] | None,
    electrons: dict[int, ElectronRow],
) -> list[EdgeRow]:
    table = "electron_dependency"
    if not (schema.has(table, "electron_id") and schema.has(table, "parent_electron_id")):
        return []
    cols = _select(schema, table, "d", ("edge_name", "parameter_type", "arg_index"))
    where, args = in_list("e.parent_lattice_id", lattice_row_ids)
    sql = f"SELECT d.electron_id AS child, d.parent_electron_id AS parent, {cols} FROM electron_dependency d JOIN electrons e ON e.id = d.electron_id{where}"  # noqa: E501, S608
    out = []
    for row in conn.execute(sql, args):
        child, parent = electrons.get(row["child"]), electrons.get(row["parent"])
        if child is None:
            continue
        out.append(
            EdgeRow(
                dispatch_id=child.dispatch_id,
                child_node=child.node_id,
                parent_node=parent.node_id if parent is not None else None,
                edge_name=_text(row["edge_name"]),
                parameter_type=_text(row["parameter_type"]),
                arg_index=_int(row["arg_index"]),
            )
        )
    return out


def asset_rows(
    conn: sqlite3.Connection,
    schema: Schema,
    lattice_row_ids: list[int] | None,
    lattices: dict[int, LatticeRow],
    electrons: dict[int, ElectronRow],
    keys: tuple[str, ...] | None = None,
    skip_task_status: str | None = None,
) -> list[AssetRow]:
    """The asset links (Covalent 0.22x on), of every key or only ``keys``,
    and none of the tasks in ``skip_task_status`` (a completed task's);
    [] for a schema without them."""
    if not (schema.has("assets", "object_key") and schema.has("assets", "storage_path")):
        return []
    cols = _select(
        schema, "assets", "a", ("storage_type", "storage_path", "object_key", "size", "digest")
    )
    out: list[AssetRow] = []
    if schema.has("lattice_assets", "meta_id"):
        where, args = _keyed(*in_list("la.meta_id", lattice_row_ids), "la", keys)
        sql = f'SELECT la.meta_id AS owner, la."key" AS "key", {cols} FROM lattice_assets la JOIN assets a ON a.id = la.asset_id{where}'  # noqa: E501, S608
        for row in conn.execute(sql, args):
            lattice = lattices.get(row["owner"])
            if lattice is not None:
                out.append(_asset(row, lattice.dispatch_id, None))
    if schema.has("electron_assets", "meta_id"):
        where, args = _keyed(*in_list("e.parent_lattice_id", lattice_row_ids), "ea", keys)
        if skip_task_status is not None and schema.has("electrons", "status"):
            where += " AND e.status != ?" if where else " WHERE e.status != ?"
            args.append(skip_task_status)
        sql = f'SELECT ea.meta_id AS owner, ea."key" AS "key", {cols} FROM electron_assets ea JOIN assets a ON a.id = ea.asset_id JOIN electrons e ON e.id = ea.meta_id{where}'  # noqa: E501, S608
        for row in conn.execute(sql, args):
            electron = electrons.get(row["owner"])
            if electron is not None:
                out.append(_asset(row, electron.dispatch_id, electron.node_id))
    return out


def _keyed(
    where: str, args: list[Any], alias: str, keys: tuple[str, ...] | None
) -> tuple[str, list[Any]]:
    if keys is None:
        return where, args
    clause = f'{alias}."key" IN ({",".join("?" * len(keys))})'
    return f"{where} AND {clause}" if where else f" WHERE {clause}", [*args, *keys]


def _asset(row: sqlite3.Row, dispatch_id: str, node_id: int | None) -> AssetRow:
    return AssetRow(
        dispatch_id=dispatch_id,
        node_id=node_id,
        key=str(row["key"]),
        storage_type=_text(row["storage_type"]),
        storage_path=_text(row["storage_path"]),
        object_key=_text(row["object_key"]),
        size=_int(row["size"]),
        digest=_text(row["digest"]),
    )


_UTC = dt.timezone.utc


def parse_time(value: Any) -> dt.datetime | None:
    """A stored time as an aware UTC datetime; naive text is UTC (see above).
    None for anything that is not a time."""
    if type(value) is str and len(value) in (19, 26) and value[10] == " ":
        # SQLAlchemy's own format ("2026-11-30 09:46:52[.893841]"), naive:
        # most of millions of times at 100,000 dispatches, parsed directly.
        try:
            quick = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return quick.replace(tzinfo=_UTC) if quick.tzinfo is None else utc(quick)
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and value:
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    return utc(parsed)


def since_text(since: dt.datetime) -> str:
    """``since`` as the text Covalent's rows hold, so that SQLite compares
    like with like (text order is time order in this format)."""
    if since.tzinfo is not None:
        since = since.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return since.strftime("%Y-%m-%d %H:%M:%S")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)
