"""What the dispatch page shows, assembled from the index: a dispatch's
record, its task graph and one task in full (``read.taskdetail`` reads them
from Covalent's UI document), and that document as Covalent's own UI should
see it today (``for_covalent_ui``).

Kept out of ``index`` so that ``DispatchIndex`` stays the front door and
these stay one small module each side of it.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .errors import NotFoundError
from .read import taskdetail
from .read.doclayout import ident
from .records import DispatchRecord

if TYPE_CHECKING:
    from .index import DispatchIndex

# A dispatch's whole error and its workflow's source are shown on the page;
# past this they are shortened with the marker.
LONG_TEXT_CHARS = 100_000


def graph(index: DispatchIndex, dispatch_id: str) -> dict[str, Any]:
    """The record's header fields, the workflow (name, docstring, source,
    inputs, executor), the result preview and the task graph."""
    record = index.get(dispatch_id)
    try:
        document: dict[str, Any] = index.result_document(dispatch_id)
    except NotFoundError:
        document = {}  # listed, or never read well: a header without a graph
    subs = {ident(node): sub for sub, node in index.sub_workflows(dispatch_id) if node is not None}
    lattice = document.get("lattice") if isinstance(document.get("lattice"), dict) else {}
    metadata = lattice.get("metadata") if isinstance(lattice.get("metadata"), dict) else {}
    header = record.to_json(
        (
            "dispatch_id",
            "status",
            "lattice_name",
            "start_time",
            "end_time",
            "num_nodes",
            "path",
            "results_dir",
            "pickled_results_dir",
            "host",
            "source",
            "origin",
            "missing",
            "unreadable",
            "parent_dispatch_id",
            "parent_node_id",
            "covalent_state",
        )
    )
    return {
        **header,
        "error": taskdetail.shorten(record.error or document.get("error"), LONG_TEXT_CHARS),
        "workflow": {
            "name": lattice.get("name"),
            "doc": taskdetail.shorten(lattice.get("doc")),
            "function_string": taskdetail.shorten(lattice.get("function_string"), LONG_TEXT_CHARS),
            "inputs": {
                str(k): taskdetail.shorten(v, taskdetail.SUMMARY_CHARS * 10)
                for k, v in (lattice.get("inputs") or {}).items()
            }
            if isinstance(lattice.get("inputs"), dict)
            else taskdetail.shorten(lattice.get("inputs")),
            "executor": metadata.get("executor_name") or _executor_name(metadata.get("executor")),
        },
        "result": taskdetail.shorten(document.get("result")),
        **taskdetail.tasks(document, subs),
    }


def node(index: DispatchIndex, dispatch_id: str, node_id: int | str) -> dict[str, Any]:
    """One task of a dispatch in full (``taskdetail.task``)."""
    index.get(dispatch_id)
    try:
        document = index.result_document(dispatch_id)
    except NotFoundError:
        document = {}
    found = taskdetail.task(document, node_id)
    if found is None:
        raise NotFoundError(f"dispatch {dispatch_id!r} has no task {str(node_id)[:40]!r}")
    subs = dict(index.sub_workflows(dispatch_id))
    by_task = {ident(n): sub for sub, n in subs.items() if n is not None}
    found["sub_dispatch_id"] = by_task.get(ident(found["id"])) or found["sub_dispatch_id"]
    return found


def for_covalent_ui(record: DispatchRecord, document: dict[str, Any]) -> dict[str, Any]:
    """The document as Covalent 0.110's UI reads it, for a folder that may
    have moved: ``results_dir`` (its "Directory") is where the folder is
    now (the one Covalent recorded stays in the record's
    ``pickled_results_dir``), and every executor is a dict of attributes
    (the UI lists a string one character per line), ``{"name": ...}``
    where only the plugin's name is known (documents stored before kept
    ``"<executor dask>"``)."""
    shown = copy.deepcopy(document)
    if record.results_dir:
        shown["results_dir"] = record.results_dir
    lattice = shown.get("lattice")
    if isinstance(lattice, dict):
        metadata = lattice.get("metadata")
        if isinstance(metadata, dict):
            if "results_dir" in metadata and record.results_dir:
                metadata["results_dir"] = record.results_dir
            _executor_dict(metadata)
    graph_part = shown.get("graph")
    for node_doc in graph_part.get("nodes") or [] if isinstance(graph_part, dict) else []:
        if isinstance(node_doc, dict) and isinstance(node_doc.get("metadata"), dict):
            _executor_dict(node_doc["metadata"])
    return shown


def _executor_dict(metadata: dict[str, Any]) -> None:
    executor = metadata.get("executor")
    if executor is None or isinstance(executor, dict):
        return
    name = metadata.get("executor_name")
    metadata["executor"] = {"name": name if isinstance(name, str) else _executor_name(executor)}


def _executor_name(executor: Any) -> str | None:
    """``dask`` of ``<executor dask>`` (what documents stored before held)."""
    if isinstance(executor, dict):
        name = executor.get("name") or executor.get("short_name")
        return name if isinstance(name, str) else None
    if isinstance(executor, str):
        text = executor.strip("<>")
        return text.split(" ", 1)[1] if text.startswith("executor ") else text
    return None
