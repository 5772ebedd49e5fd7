"""The plain records that cross the library's boundary.

Nothing outside ``store`` sees a database row; everything sees these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
# Every status some Covalent release writes on a dispatch or a task, newest
# releases' first (docs/covalent-generations.md, section 3). A status filter
# is checked against these and the statuses the index holds, so a status a
# plugin or a later release writes is accepted once a record has it.
KNOWN_STATUSES = (
    "NEW_OBJECT",
    "STARTING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "DISPATCHING",
    "PENDING_REUSE",
    "PENDING_REPLACEMENT",
    "DISPATCHING_SUBLATTICE",
    "POSTPROCESSING",
    "PENDING_POSTPROCESSING",
    "POSTPROCESSING_FAILED",
)

# How a record came in: found by a scan, a watch event, the hook, or the
# provisional listing pass.
SOURCES = ("scan", "watch", "hook", "listing")

# What a record was read from, most authoritative first: Covalent's own
# account of a dispatch (its server's database, or a result.pkl it wrote),
# then what a client downloaded, then what a client submitted. Of several
# copies of one dispatch, the more authoritative is the one shown.
ORIGINS = ("covalent-db", "result-pkl", "client-results", "dispatch-cache")
# Each origin's rank (0 is the most authoritative): a copy of lower rank is
# shown over one of higher rank whatever their times (``store.write``). A
# server's database and a result.pkl are Covalent's word alike; a record
# without an origin was read from a result.pkl before origins were kept.
ORIGIN_RANKS = {"covalent-db": 0, "result-pkl": 0, "client-results": 1, "dispatch-cache": 2}


def origin_rank(origin: str | None) -> int:
    """``ORIGIN_RANKS`` of ``origin`` (None: a result.pkl's)."""
    return ORIGIN_RANKS.get(origin or "result-pkl", 0)


# Where a modern server's database stands on a dispatch it once held.
COVALENT_STATES = ("active", "deleted")


def latest(times: Iterable[datetime | None]) -> datetime | None:
    """The newest of ``times`` that are known (None if none is)."""
    return max((t for t in times if t is not None), default=None)


class FileStat(NamedTuple):
    """The identity of one version of a result.pkl, for change detection.

    An unchanged (size, mtime_ns, inode) means unchanged content here: Covalent
    rewrites the whole file on every save, which always moves the mtime.
    A tuple, so that a rescan compares it with a stored row's columns as
    they come and makes one per folder cheaply.
    """

    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True)
class NodeSummary:
    node_id: int | str
    name: str | None
    status: str | None
    start_time: datetime | None
    end_time: datetime | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "name": self.name,
            "status": self.status,
            "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
            "error": self.error,
        }


@dataclass
class DispatchRecord:
    """Everything the index knows about one dispatch (without the raw bytes)."""

    dispatch_id: str
    status: str | None
    lattice_name: str | None
    start_time: datetime | None
    end_time: datetime | None
    error: str | None
    num_nodes: int | None
    path: str
    results_dir: str
    pickled_results_dir: str | None = None
    nodes: list[NodeSummary] = field(default_factory=list)
    result: Any = None
    size: int | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    sha256: str | None = None
    unreadable: str | None = None
    missing: bool = False
    source: str = "scan"
    root: str | None = None
    # The latest time recorded inside the result (its own or any node's):
    # how far along the dispatch this copy is, whatever its file mtime says.
    last_event: datetime | None = None
    # The listing order: start_time, or the file's mtime when there is none.
    sort_time: datetime | None = None
    # Hidden with ``hide``: left out of listings, kept in the index.
    hidden: bool = False
    # ``ORIGINS``: what this copy was read from (None: a result.pkl, as
    # before origins were recorded).
    origin: str | None = None
    # A sub-workflow's parent dispatch, and the parent's task (node id) that ran it.
    parent_dispatch_id: str | None = None
    parent_node_id: int | None = None
    # ``COVALENT_STATES`` for a dispatch read from a server's database:
    # "deleted" once Covalent's UI soft-deleted it (is_active = 0). Our
    # record stays, status and all.
    covalent_state: str | None = None
    first_seen: datetime | None = None
    updated_at: datetime | None = None
    # The machine whose copy this is (several can share one index).
    host: str | None = None
    # Bytes in the dispatch's folder, all files (None: not measured yet).
    folder_size: int | None = None
    # The user's tags and note (``tag``, ``note``): ours, kept apart from
    # what is read from disk.
    tags: list[str] = field(default_factory=list)
    note: str | None = None

    # The keys of ``list --json``, in order.
    LIST_KEYS = (
        "dispatch_id",
        "status",
        "lattice_name",
        "start_time",
        "end_time",
        "num_nodes",
        "error",
        "path",
        "results_dir",
        "missing",
        "unreadable",
        "source",
        "origin",
        "updated_at",
        "folder_size",
        "tags",
        "note",
    )

    def to_json(self, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
        """A JSON-ready dict; all fields unless ``keys`` narrows it."""
        names = keys or tuple(f.name for f in dataclasses.fields(self))
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = _iso(value)
            elif name == "nodes":
                value = [node.to_json() for node in value]
            out[name] = value
        return out

    def list_json(self) -> dict[str, Any]:
        return self.to_json(self.LIST_KEYS)


@dataclass
class RootInfo:
    path: str
    watch: str
    exists: bool
    records: int
    # ``config.ROOT_KINDS``; a covalent-data root's dispatcher database.
    kind: str = "results"
    covalent_db: str | None = None
    # Bytes in the dispatch folders of its records (those measured).
    bytes: int = 0


@dataclass
class ScanSummary:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    missing: int = 0
    unreadable: int = 0
    # Folders whose result.pkl was still being written when the scan ended.
    unsettled: int = 0
    # Folders the walk could not enter.
    inaccessible: int = 0
    # Covalent databases busy (Covalent writing them): read at the next scan.
    busy: int = 0
    # Dispatches listed with provisional records before any was read (on a
    # root scanned for the first time: ``scan.listing``), and how long that took.
    listed: int = 0
    listed_seconds: float = 0.0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.missing} missing, {self.unreadable} unreadable"
        )
        if self.unsettled:
            text += f", {self.unsettled} still being written"
        if self.inaccessible:
            text += f", {self.inaccessible} folders inaccessible"
        if self.busy:
            text += f", {self.busy} Covalent database(s) busy (read at the next scan)"
        text += f" in {self.seconds:.2f}s"
        if self.listed:
            text += f" (all {self.listed} listed in the first {self.listed_seconds:.2f}s)"
        return text

    def add(self, part: ScanSummary) -> None:
        """Count ``part`` (a scan of other roots) into this summary."""
        for f in dataclasses.fields(self):
            if f.name != "errors":
                setattr(self, f.name, getattr(self, f.name) + getattr(part, f.name))
        self.errors.extend(part.errors)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def human_size(size: int | None) -> str:
    """Bytes for people: 512 B, 3.4 MB ("" if unknown)."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
