"""The Covalent client's own caches (0.2xx on), for a machine that only submits.

- ``[sdk] dispatch_cache_dir/<dispatch_id>`` (``~/.cache/covalent/dispatches``):
  the JSON manifest of each submission, to whatever server. It names the
  workflow and lists its transport graph (the task count as Covalent counts
  it), but its status is the one at submit time (``NEW_OBJECT``): it proves
  nothing about how the dispatch went.
- ``[sdk] results_dir/<dispatch_id>/`` (``~/.cache/covalent/results``): what
  ``get_result`` downloaded, the data dir's layout. Covalent links the
  workflow's ``result`` asset (``results.tobj`` here) only when a dispatch
  completes: failed and cancelled ones have none (checked on the 0.240
  fixture). So a readable ``results.tobj`` proves COMPLETED.

Anything else is ``UNKNOWN``: a record claims only what a file proves.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..records import DispatchRecord, NodeSummary
from .reader import blank_record
from .tobj import UnreadableAssetError, read_bounded, read_tobj

__all__ = [
    "MAX_MANIFEST",
    "UNKNOWN",
    "is_dispatch_id",
    "iter_dispatch_cache",
    "iter_results_folder",
    "read_cached_dispatch",
    "read_downloaded_result",
]

UNKNOWN = "UNKNOWN"
# A manifest lists every task with its assets; 16 MiB is thousands of tasks.
MAX_MANIFEST = 16 * 1024 * 1024
# Entries of one cache folder listed in one pass.
MAX_ENTRIES = 1_000_000
_SOURCE_HEAD = 64 * 1024
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_NODE_DIR = re.compile(r"node_(\d+)\Z")
# The workflow's own definition: the first def at the left margin (its
# decorators and any imports come before it).
_DEF = re.compile(r"^(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)[ \t]*\(", re.MULTILINE)


def is_dispatch_id(name: str) -> bool:
    """Covalent's dispatch ids are lower-case UUID4 strings."""
    return _UUID.match(name) is not None


def read_cached_dispatch(path: str | Path) -> DispatchRecord:
    """One ``dispatches/<id>`` manifest as a record with status UNKNOWN;
    ``unreadable`` says why when it is not a readable manifest."""
    path = Path(path)
    record = blank_record(path, origin="dispatch-cache")
    record.status = UNKNOWN
    try:
        manifest = json.loads(read_bounded(path, MAX_MANIFEST).decode("utf-8"))
    except (UnreadableAssetError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        record.unreadable = f"dispatch manifest: {str(exc).splitlines()[0][:160]}"
        return record
    if not isinstance(manifest, dict):
        record.unreadable = "dispatch manifest: not a JSON object"
        return record
    metadata = _dict(manifest.get("metadata"))
    lattice = _dict(manifest.get("lattice"))
    graph = _dict(lattice.get("transport_graph"))
    nodes = graph.get("nodes") if isinstance(graph.get("nodes"), list) else []
    record.dispatch_id = _str(metadata.get("dispatch_id")) or path.name
    record.lattice_name = _str(_dict(lattice.get("metadata")).get("name"))
    record.num_nodes = len(nodes) if graph else None
    record.nodes = [_node(i, node) for i, node in enumerate(nodes)]
    return record


def _node(index: int, node: Any) -> NodeSummary:
    node = _dict(node)
    node_id = node.get("id")
    return NodeSummary(
        node_id=node_id if isinstance(node_id, int) else index,
        name=_str(_dict(node.get("metadata")).get("name")),
        # Submit-time statuses (NEW_OBJECT) say nothing about the run.
        status=None,
        start_time=None,
        end_time=None,
        error=None,
    )


def read_downloaded_result(folder: str | Path) -> DispatchRecord:
    """One ``results/<id>/`` folder as a record: COMPLETED when its result
    asset is there and readable, UNKNOWN otherwise."""
    folder = Path(folder)
    record = blank_record(folder, origin="client-results")
    record.status = UNKNOWN
    record.lattice_name = _workflow_name(folder / "function_string.txt")
    node_ids = _node_ids(folder)
    # get_result downloads every task's folder, so their count is the graph's.
    record.num_nodes = len(node_ids) or None
    record.nodes = [NodeSummary(i, None, None, None, None, None) for i in sorted(node_ids)]
    result = folder / "results.tobj"
    if result.is_file():
        try:
            record.result = read_tobj(result).preview
            record.status = "COMPLETED"
        except UnreadableAssetError as exc:
            record.unreadable = f"result asset results.tobj: {exc}"
    return record


def iter_dispatch_cache(folder: str | Path) -> Iterator[DispatchRecord]:
    """Every manifest in a client's dispatch cache (files named by dispatch id)."""
    for entry in _entries(folder):
        if is_dispatch_id(entry.name) and entry.is_file():
            yield read_cached_dispatch(entry.path)


def iter_results_folder(folder: str | Path) -> Iterator[DispatchRecord]:
    """Every dispatch a client's ``get_result`` downloaded into ``folder``."""
    for entry in _entries(folder):
        if is_dispatch_id(entry.name) and entry.is_dir(follow_symlinks=False):
            yield read_downloaded_result(entry.path)


def _entries(folder: str | Path) -> Iterator[os.DirEntry[str]]:
    with os.scandir(folder) as listing:
        for count, entry in enumerate(listing):
            if count >= MAX_ENTRIES:
                return
            yield entry


def _node_ids(folder: Path) -> set[int]:
    ids = set()
    try:
        for entry in _entries(folder):
            match = _NODE_DIR.match(entry.name)
            if match and entry.is_dir(follow_symlinks=False):
                ids.add(int(match.group(1)))
    except OSError:
        return set()
    return ids


def _workflow_name(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(_SOURCE_HEAD).decode("utf-8", "replace")
    except OSError:
        return None
    match = _DEF.search(head)
    return match.group(1) if match else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
