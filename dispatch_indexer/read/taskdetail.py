"""A dispatch's tasks as the dispatch page draws them, read from Covalent's
UI document (``document`` for a result.pkl, ``moderndoc`` for a modern
server's data dir: both lay their nodes out alike, ``doclayout``).

The document already holds what a task said: its output preview, stdout,
stderr and error (for 0.110 from the result pickle's nodes, for modern
Covalent from ``node_<n>/*.log`` and the ``.tobj`` string forms), so a task
is read from there and nothing is unpickled. A task's inputs are the outputs
of the tasks its incoming edges come from, named by the edge, as Covalent
passes them.

Pure: a document in, plain dicts out; every text past ``TEXT_CHARS`` is
shortened with ``SHORTENED`` saying how much was left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from .doclayout import ident

TEXT_CHARS = 20_000
# Error lines in the task table: the last line of a traceback says most.
SUMMARY_CHARS = 300
SHORTENED = "[… shortened: {shown:,} of {total:,} characters shown …]"
# Covalent's node name prefixes (``covalent._shared_files.defaults``).
KINDS = (
    (":parameter:", "parameter"),
    (":sublattice:", "sublattice"),
    (":postprocess:", "postprocess"),
)
# The str() of a sub-Result (0.110) names the dispatch Covalent made for it.
_SUB_ID = re.compile(r"^dispatch_id: *(\S+) *$", re.MULTILINE)


def shorten(value: Any, limit: int = TEXT_CHARS, *, tail: bool = False) -> str | None:
    """``value`` as text (JSON for anything but a string), at most ``limit``
    characters and the marker; ``tail`` keeps the end (of a log, a traceback)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= limit:
        return text
    mark = SHORTENED.format(shown=limit, total=len(text))
    return f"{mark}\n{text[-limit:]}" if tail else f"{text[:limit]}\n{mark}"


def kind_of(name: Any) -> str:
    """task, parameter, sublattice or postprocess, by Covalent's name prefix."""
    text = name if isinstance(name, str) else ""
    for prefix, kind in KINDS:
        if text.startswith(prefix):
            return kind
    return "task"


def short_name(name: Any) -> str:
    """The name without Covalent's prefix: ``:parameter:5`` -> ``5``."""
    text = name if isinstance(name, str) else ("" if name is None else str(name))
    for prefix, _ in KINDS:
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def sub_dispatch_in(node: dict[str, Any]) -> str | None:
    """The dispatch id a sub-workflow task's ``sublattice_result`` names (0.110)."""
    text = node.get("sublattice_result")
    if not isinstance(text, str):
        return None
    found = _SUB_ID.search(text)
    return found.group(1) if found else None


def _nodes(document: dict[str, Any]) -> list[dict[str, Any]]:
    graph = document.get("graph")
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    return [n for n in nodes or [] if isinstance(n, dict)]


def _links(document: dict[str, Any]) -> list[dict[str, Any]]:
    graph = document.get("graph")
    links = graph.get("links") if isinstance(graph, dict) else None
    return [link for link in links or [] if isinstance(link, dict)]


def tasks(document: dict[str, Any], subs: dict[Any, str] | None = None) -> dict[str, Any]:
    """Every task (id, name, kind, status, times, short error, the
    sub-dispatch it ran) and every edge (source, target, name), as drawn.
    ``subs``: sub-dispatch ids by task id where the index links them."""
    subs = subs or {}
    out = []
    for node in _nodes(document):
        node_id = node.get("id")
        error = node.get("error")
        out.append(
            {
                "id": node_id,
                "name": short_name(node.get("name")),
                "kind": kind_of(node.get("name")),
                "status": node.get("status"),
                "start_time": node.get("start_time"),
                "end_time": node.get("end_time"),
                "error": _last_lines(error) if error else None,
                "sub_dispatch_id": subs.get(ident(node_id)) or sub_dispatch_in(node),
            }
        )
    edges = [
        {
            "source": link.get("source"),
            "target": link.get("target"),
            "name": link.get("edge_name"),
        }
        for link in _links(document)
    ]
    graph = document.get("graph")
    omitted = graph.get("nodes_omitted", 0) if isinstance(graph, dict) else 0
    return {"tasks": out, "edges": edges, "tasks_omitted": omitted}


def task(document: dict[str, Any], node_id: int | str) -> dict[str, Any] | None:
    """One task in full (None if the document has no such node): its inputs
    by edge name, output, stdout, stderr, error, source and docstring."""
    nodes = _nodes(document)
    by_id = {ident(n.get("id")): n for n in nodes}
    node = by_id.get(ident(node_id))
    if node is None and isinstance(node_id, str) and node_id.lstrip("-").isdigit():
        node = by_id.get(int(node_id))
    if node is None:
        return None
    inputs = {}
    for link in _incoming(_links(document), node.get("id")):
        parent = by_id.get(ident(link.get("source")))
        name = link.get("edge_name") or f"from {link.get('source')}"
        if isinstance(name, str) and name.startswith("!"):
            continue  # Covalent's waiting edges order tasks; they pass nothing.
        value = parent.get("output") if parent is not None else None
        inputs[str(name)] = shorten(value, SUMMARY_CHARS * 10)
    return {
        "id": node.get("id"),
        "name": short_name(node.get("name")),
        "kind": kind_of(node.get("name")),
        "status": node.get("status"),
        "start_time": node.get("start_time"),
        "end_time": node.get("end_time"),
        "inputs": inputs,
        "output": shorten(node.get("output")),
        "stdout": shorten(node.get("stdout"), tail=True),
        "stderr": shorten(node.get("stderr"), tail=True),
        "error": shorten(node.get("error"), tail=True),
        "function_string": shorten(node.get("function_string")),
        "doc": shorten(node.get("doc")),
        "sub_dispatch_id": sub_dispatch_in(node),
    }


def _incoming(links: Iterable[dict[str, Any]], node_id: Any) -> list[dict[str, Any]]:
    target = ident(node_id)
    return [link for link in links if ident(link.get("target")) == target]


def _last_lines(error: Any) -> str:
    """The end of an error, for a table cell: the exception line is last."""
    text = error if isinstance(error, str) else str(error)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    summary = lines[-1] if lines else text
    return summary[-SUMMARY_CHARS:]
