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


def add_workflow(server: Path, tasks: int, name: str = "wide") -> str:
    """Add a COMPLETED dispatch of ``tasks`` tasks, each depending on the
    one at half its number (a binary tree), to the server folder ``server``
    (``dispatcher_db.sqlite`` and ``data/``); its id."""
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
                electron_num=tasks,
                completed_electron_num=tasks,
                storage_path=str(lattice["storage_path"]).replace(ARITH_240, new_id),
            )
            _insert(conn, "lattices", lattice)
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
                        "name": f"step_{n}",
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
    return new_id


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
