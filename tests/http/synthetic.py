"""A big workflow for the page tests, made the way a Covalent 0.240 server
keeps one: rows in a copy of the real server's database (the rows of the
fixture's ``arith`` dispatch, copied), and a data dir folder beside it.

The tasks' own folders (``node_<n>/``) are not written: the indexer reads
such a task as one whose assets were never written, as it would mid-run.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from pathlib import Path

from ..realdata import ARITH_240


def add_workflow(
    server: Path, tasks: int, name: str = "wide", task_name: str = "step_", error: str = ""
) -> str:
    """Add a COMPLETED (with ``error``: FAILED) dispatch of ``tasks`` tasks, each depending on the
    one at half its number (a binary tree), to the server folder ``server``
    (``dispatcher_db.sqlite`` and ``data/``); its id. Task n is named
    ``task_name`` and n; ``error``: the dispatch's ``error.log``."""
    new_id = str(uuid.uuid4())
    conn = sqlite3.connect(server / "dispatcher_db.sqlite")
    try:
        with conn:
            lattice = _row(conn, "SELECT * FROM lattices WHERE dispatch_id = ?", (ARITH_240,))
            template_id = lattice["id"]
            lattice_id = _next_id(conn, "lattices")
            lattice.update(
                id=lattice_id,
                dispatch_id=new_id,
                root_dispatch_id=new_id,
                electron_id=None,
                name=name,
                status="FAILED" if error else "COMPLETED",
                electron_num=tasks,
                completed_electron_num=tasks,
                storage_path=str(lattice["storage_path"]).replace(ARITH_240, new_id),
            )
            _insert(conn, "lattices", lattice)
            _copy_assets(conn, template_id, lattice_id, new_id)
            electron = _row(
                conn,
                "SELECT * FROM electrons WHERE parent_lattice_id = ? AND type = 'function'",
                (template_id,),
            )
            first = _next_id(conn, "electrons")
            for n in range(tasks):
                _insert(
                    conn,
                    "electrons",
                    {
                        **electron,
                        "id": first + n,
                        "parent_lattice_id": lattice_id,
                        "transport_graph_node_id": n,
                        "name": f"{task_name}{n}",
                        "task_group_id": n,
                    },
                )
            dependency = _row(conn, "SELECT * FROM electron_dependency LIMIT 1", ())
            next_dep = _next_id(conn, "electron_dependency")
            for n in range(1, tasks):
                _insert(
                    conn,
                    "electron_dependency",
                    {
                        **dependency,
                        "id": next_dep + n,
                        "electron_id": first + n,
                        "parent_electron_id": first + (n - 1) // 2,
                        "edge_name": "x",
                        "parameter_type": "arg",
                        "arg_index": 0,
                    },
                )
    finally:
        conn.close()
    source = server / "data" / ARITH_240
    folder = server / "data" / new_id
    folder.mkdir()
    for item in source.iterdir():
        if item.is_file():
            shutil.copy2(item, folder / item.name)
    if error:
        (folder / "error.log").write_text(error)
    return new_id


def _copy_assets(conn: sqlite3.Connection, template: int, lattice: int, new_id: str) -> None:
    """The lattice's own assets (source, inputs, error...), in the new folder."""
    rows = conn.execute(
        "SELECT asset_id, key FROM lattice_assets WHERE meta_id = ?", (template,)
    ).fetchall()
    for asset_id, key in rows:
        asset = _row(conn, "SELECT * FROM assets WHERE id = ?", (asset_id,))
        asset["id"] = _next_id(conn, "assets")
        asset["object_key"] = str(asset["object_key"]).replace(ARITH_240, new_id)
        _insert(conn, "assets", asset)
        link = {"id": _next_id(conn, "lattice_assets"), "meta_id": lattice}
        _insert(conn, "lattice_assets", {**link, "asset_id": asset["id"], "key": key})


def _row(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> dict[str, object]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def _next_id(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0])


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, object]) -> None:
    names = ", ".join(row)
    slots = ", ".join("?" for _ in row)
    conn.execute(f"INSERT INTO {table} ({names}) VALUES ({slots})", tuple(row.values()))
