"""A modern Covalent server's state (0.136 on) as the index's records.

The database (``covalent_db``) says each dispatch's status, times and tasks;
the data dir holds what the rows point to: the result asset, each task's
``stderr.log``. This module joins the two into one ``DispatchRecord`` per
dispatch, with every recorded path relocated onto the data dir as it is now
(``relocate``), and the result read only for its preview (``tobj``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..records import DispatchRecord, NodeSummary, latest
from .covalent_db import BUSY_WAIT, CovalentDb, MarkRow, Schema, Snapshot
from .datafiles import last_error_line, preview, read_text
from .dbrows import AssetRow, EdgeRow, ElectronRow, LatticeRow
from .relocate import recorded_root, relocate, relocate_text
from .tobj import read_bounded

__all__ = [
    "SOURCE",
    "ServerDispatch",
    "ServerMark",
    "ServerMarks",
    "ServerRead",
    "dispatches_from_snapshot",
    "last_error_line",
    "read_dispatches",
    "read_marks",
    "read_result_bytes",
    "read_server",
]

# How a server's records come in (records.SOURCES), and what they are read
# from (records.ORIGINS).
SOURCE = "scan"
ORIGIN = "covalent-db"
# The assets a record is built from (a sync reads only these: a dispatch
# has dozens more, a server may have 100,000 dispatches).
RECORD_ASSETS = ("result", "error", "stderr")
_DONE = "COMPLETED"
# The serialized result kept with a record, as for result.pkl today.
MAX_RESULT_BYTES = 64 * 1024 * 1024


@dataclass
class ServerDispatch:
    """One dispatch of a server: its record, and what the record cannot say."""

    record: DispatchRecord
    lattice: LatticeRow
    # The sub-workflows this dispatch ran, by the node id of the task that ran each.
    sub_dispatches: dict[int, str]
    # Where the result asset is now (None when there is none yet).
    result_path: Path | None
    # Each task's relocated assets by key (``stdout``, ``stderr``, ``output``...).
    node_assets: dict[int, dict[str, Path]]
    # The dispatch's own relocated assets by key (``result``, ``function_string``...).
    assets: dict[str, Path]
    # Its task graph's edges (``electron_dependency``).
    edges: list[EdgeRow]

    # A sub-workflow's parent: the dispatch and the task (node id) that ran
    # it, as its record holds them.
    @property
    def parent_dispatch_id(self) -> str | None:
        return self.record.parent_dispatch_id

    @property
    def parent_node_id(self) -> int | None:
        return self.record.parent_node_id


@dataclass
class ServerRead:
    dispatches: list[ServerDispatch]
    # The next incremental read's ``since``.
    high_water: datetime | None
    revision: str | None


@dataclass(frozen=True)
class ServerMark:
    """What tells whether a dispatch changed, without building its record:
    its folder, its result asset (relocated) and its last event. Paths as
    strings: a sync of 100,000 dispatches makes one of each per dispatch."""

    dispatch_id: str
    folder: str
    result_path: str | None
    last_event: datetime | None


@dataclass
class ServerMarks:
    marks: list[ServerMark]
    # The latest updated_at among the rows read (``Marks.high_water``).
    high_water: datetime | None
    schema: Schema


def read_marks(
    database: str | Path | CovalentDb,
    data_dir: str | Path,
    since: datetime | None = None,
    dispatch_ids: list[str] | None = None,
    busy_wait: float = BUSY_WAIT,
) -> ServerMarks:
    """The cheap pass (``dbmarks``) as marks: every dispatch's, or those
    changed at or after ``since``, or those named (``busy_wait``: how long
    a busy database is waited for before ``CovalentDbBusyError``)."""
    db = _opened(database, busy_wait)
    marks = db.marks(since=since, dispatch_ids=dispatch_ids)
    data = os.fspath(data_dir)
    by_filename = not marks.schema.has("assets")
    return ServerMarks(
        marks=[
            ServerMark(
                dispatch_id=row.dispatch_id,
                folder=os.path.join(data, row.dispatch_id),
                result_path=_result_path(row, data, by_filename),
                last_event=row.last_event,
            )
            for row in marks.rows
        ],
        high_water=marks.high_water,
        schema=marks.schema,
    )


def read_dispatches(
    database: str | Path | CovalentDb,
    data_dir: str | Path,
    dispatch_ids: list[str] | None,
    busy_wait: float = BUSY_WAIT,
    every_asset: bool = False,
) -> list[ServerDispatch]:
    """The full records of the dispatches named (None: all), in one read
    transaction, with only the assets they are built from (or, with
    ``every_asset``, all of them: what their UI document shows)."""
    db = _opened(database, busy_wait)
    if every_asset:
        snapshot = db.snapshot(dispatch_ids=dispatch_ids)
        return dispatches_from_snapshot(snapshot, Path(data_dir))
    snapshot = db.snapshot(
        dispatch_ids=dispatch_ids, asset_keys=RECORD_ASSETS, skip_task_status=_DONE
    )
    return dispatches_from_snapshot(snapshot, Path(data_dir), lean=True)


def _opened(database: str | Path | CovalentDb, busy_wait: float) -> CovalentDb:
    # A reader of another engine (``scan.covalent_pg``) comes opened.
    if isinstance(database, CovalentDb):
        return database
    return CovalentDb(database, busy_wait=busy_wait)


def _result_path(row: MarkRow, data_dir: str, by_filename: bool) -> str | None:
    # The same relocation the full build makes of the same rows (``_dispatch``).
    root = recorded_root(row.storage_path, row.dispatch_id, row.results_dir)
    if by_filename:
        if not row.results_filename:
            return None
        recorded, tail = row.storage_path, row.results_filename
    else:
        recorded, tail = row.result_storage_path, row.result_object_key
    return relocate_text(recorded, data_dir, root=root, dispatch_id=row.dispatch_id, tail=tail)


def read_server(
    database: str | Path, data_dir: str | Path, since: datetime | None = None
) -> ServerRead:
    """Every dispatch of the server whose database and data dir are given
    (or those changed at or after ``since``). Raises ``CovalentDbBusyError``
    while Covalent holds the database, ``CovalentDbError`` if unreadable."""
    snapshot = CovalentDb(database).snapshot(since=since)
    return ServerRead(
        dispatches=dispatches_from_snapshot(snapshot, Path(data_dir)),
        high_water=snapshot.high_water,
        revision=snapshot.schema.revision,
    )


def dispatches_from_snapshot(
    snapshot: Snapshot, data_dir: Path, lean: bool = False
) -> list[ServerDispatch]:
    """The snapshot's dispatches; ``lean``: with only the assets their
    records read (none of a completed task: it has no error to show)."""
    electrons: dict[str, list[ElectronRow]] = defaultdict(list)
    for electron in snapshot.electrons:
        electrons[electron.dispatch_id].append(electron)
    assets: dict[str, list[AssetRow]] = defaultdict(list)
    for asset in snapshot.assets:
        assets[asset.dispatch_id].append(asset)
    edges: dict[str, list[EdgeRow]] = defaultdict(list)
    for edge in snapshot.edges:
        edges[edge.dispatch_id].append(edge)
    children: dict[str, dict[int, str]] = defaultdict(dict)
    for lattice in snapshot.lattices:
        if lattice.parent_dispatch_id and lattice.parent_node_id is not None:
            children[lattice.parent_dispatch_id][lattice.parent_node_id] = lattice.dispatch_id
    # Before the asset tables (Covalent < 0.22x) a row's own storage_path
    # and *_filename columns say where its files are.
    by_filename = not snapshot.schema.has("assets")
    return [
        _dispatch(
            lattice,
            electrons[lattice.dispatch_id],
            assets[lattice.dispatch_id],
            children[lattice.dispatch_id],
            edges[lattice.dispatch_id],
            data_dir,
            by_filename,
            lean,
        )
        for lattice in snapshot.lattices
    ]


def _dispatch(
    lattice: LatticeRow,
    electrons: list[ElectronRow],
    assets: list[AssetRow],
    sub_dispatches: dict[int, str],
    edges: list[EdgeRow],
    data_dir: Path,
    by_filename: bool,
    lean: bool,
) -> ServerDispatch:
    dispatch_id = lattice.dispatch_id
    root = recorded_root(lattice.storage_path, dispatch_id, lattice.results_dir)
    own: dict[str, Path] = {}
    node_assets: dict[int, dict[str, Path]] = defaultdict(dict)
    done = {e.node_id for e in electrons if e.status == _DONE} if lean else set()
    for asset in assets:
        if asset.node_id is not None and asset.node_id in done:
            continue
        path = relocate(
            asset.storage_path, data_dir, root=root, dispatch_id=dispatch_id, tail=asset.object_key
        )
        if path is None:
            continue
        if asset.node_id is None:
            own[asset.key] = path
        else:
            node_assets[asset.node_id][asset.key] = path
    if by_filename:
        own = _legacy_own(lattice, data_dir, root)
        for electron in electrons:
            if electron.node_id is not None:
                node_assets[electron.node_id] = _legacy_node(electron, data_dir, root)
    electrons = sorted(electrons, key=lambda e: (e.node_id is None, e.node_id or 0))
    nodes = [
        _node(e, node_assets.get(e.node_id, {}) if e.node_id is not None else {}) for e in electrons
    ]
    result_path = own.get("result")
    shown, unreadable = preview(result_path)
    # As ``MarkRow.last_event`` counts them: any write to the dispatch or a task.
    times = [lattice.started_at, lattice.completed_at, lattice.updated_at]
    times += [t for e in electrons for t in (e.started_at, e.completed_at, e.updated_at)]
    record = DispatchRecord(
        dispatch_id=dispatch_id,
        status=lattice.status,
        lattice_name=lattice.name,
        start_time=lattice.started_at,
        end_time=lattice.completed_at,
        error=_dispatch_error(lattice, own.get("error"), nodes),
        num_nodes=lattice.electron_num,
        path=str(data_dir / dispatch_id),
        results_dir=str(data_dir),
        pickled_results_dir=root,
        nodes=nodes,
        result=shown,
        unreadable=unreadable,
        source=SOURCE,
        origin=ORIGIN,
        last_event=latest(times),
        sort_time=lattice.started_at or lattice.created_at,
        parent_dispatch_id=lattice.parent_dispatch_id,
        parent_node_id=lattice.parent_node_id,
        # Deleted in Covalent's UI: our record stays as it was, marked.
        covalent_state="deleted" if lattice.is_active is False else "active",
    )
    return ServerDispatch(
        record=record,
        lattice=lattice,
        sub_dispatches=dict(sub_dispatches),
        result_path=result_path,
        node_assets=dict(node_assets),
        assets=own,
        edges=edges,
    )


def _legacy_own(lattice: LatticeRow, data_dir: Path, root: str | None) -> dict[str, Path]:
    out = {}
    for key, name in (("result", lattice.results_filename), ("error", lattice.error_filename)):
        path = relocate(
            lattice.storage_path, data_dir, root=root, dispatch_id=lattice.dispatch_id, tail=name
        )
        if path is not None and name:
            out[key] = path
    return out


def _legacy_node(electron: ElectronRow, data_dir: Path, root: str | None) -> dict[str, Path]:
    out = {}
    for key, name in electron.filenames.items():
        path = relocate(
            electron.storage_path, data_dir, root=root, dispatch_id=electron.dispatch_id, tail=name
        )
        if path is not None:
            # The asset tables' names for the same files.
            out["output" if key == "results" else key] = path
    return out


def _node(electron: ElectronRow, assets: dict[str, Path]) -> NodeSummary:
    # A completed task has no error: its (empty) error file is not opened,
    # nor is a completed dispatch's (below), 100,000 times over.
    error = read_text(assets.get("error")) if electron.status != _DONE else None
    if not error and electron.status == "FAILED":
        error = last_error_line(assets.get("stderr"))
    return NodeSummary(
        node_id=electron.node_id if electron.node_id is not None else electron.row_id,
        name=electron.name,
        status=electron.status,
        start_time=electron.started_at,
        end_time=electron.completed_at,
        error=error or None,
    )


def _dispatch_error(
    lattice: LatticeRow, error_path: Path | None, nodes: list[NodeSummary]
) -> str | None:
    """Covalent's own error (often just "The following tasks failed: 0: fail"),
    then each failed task with its exception line, which names the cause."""
    own = read_text(error_path) if lattice.status != _DONE else None
    failed = [n for n in nodes if n.status == "FAILED"]
    if not own and not failed:
        return None
    lines = [own] if own else ["The following tasks failed:"]
    for node in failed:
        lines.append(f"{node.node_id}: {node.name}" + (f": {node.error}" if node.error else ""))
    return "\n".join(lines)


def read_result_bytes(dispatch: ServerDispatch, max_size: int = MAX_RESULT_BYTES) -> bytes | None:
    """The result asset's bytes (the serialized result, stored as today's
    result.pkl bytes are), or None when there is none. UnreadableAssetError
    when it is over ``max_size`` or cannot be read."""
    path = dispatch.result_path
    if path is None or not path.exists():
        return None
    return read_bounded(path, max_size)
