"""The layout of Covalent's UI document, whatever it is built from.

Covalent 0.110's UI reads one JSON document per dispatch (``encode_result``):
a few top-level fields, the lattice's, and its task graph as networkx's
``node_link_data`` (``nodes``, each with its ``id``; ``links``, each with
``source``, ``target`` and ``key``). ``document`` builds it from a
``result.pkl``, ``moderndoc`` from what a modern server keeps; both lay it
out here, so that the two shapes cannot drift apart, and both keep it under
its size here: rendered again with tighter limits per value, then, if it
still does not fit, with nodes (and their links) left out and counted in
``graph.nodes_omitted``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from ..text import storable_json
from . import values
from .functions import named_params
from .render import Renderer

MAX_DOCUMENT_BYTES = 1_000_000
# Nodes rendered at all; a larger graph could never fit the document anyway.
MAX_NODES = 20_000
# (characters per value, characters per text) for each attempt: a document
# over its size is rendered again with the next, tighter, limits.
LIMITS = ((16_384, 65_536), (2_048, 8_192), (256, 1_024))


def fitted(
    render: Callable[[Renderer], dict[str, Any]], max_bytes: int = MAX_DOCUMENT_BYTES
) -> tuple[dict[str, Any], str]:
    """The document ``render`` lays out, and its JSON text (``storable_json``),
    under ``max_bytes``: each attempt's limits tighter than the last's."""
    document: dict[str, Any] = {}
    for value_chars, text_chars in LIMITS:
        document = render(Renderer(value_chars, text_chars))
        text = storable_json(document)
        if _text_bytes(text) <= max_bytes:
            return document, text
    document = _fit(document, max_bytes)
    return document, storable_json(document)


def layout(
    *,
    dispatch_id: Any,
    status: Any,
    result: Any,
    start_time: Any,
    end_time: Any,
    results_dir: Any,
    error: Any,
    lattice: dict[str, Any],
    graph: dict[str, Any],
) -> dict[str, Any]:
    """The top-level fields, in the order ``encode_result`` writes them."""
    return {
        "dispatch_id": dispatch_id,
        "status": status,
        "result": result,
        "start_time": start_time,
        "end_time": end_time,
        "results_dir": results_dir,
        "error": error,
        "lattice": lattice,
        "graph": graph,
    }


def lattice_layout(
    *, function_string: Any, doc: Any, name: Any, inputs: Any, metadata: Any
) -> dict[str, Any]:
    return {
        "function_string": function_string,
        "doc": doc,
        "name": name,
        "inputs": inputs,
        "metadata": metadata,
    }


def graph_layout(
    nodes: list[dict[str, Any]], links: Iterable[dict[str, Any]], omitted: int = 0
) -> dict[str, Any]:
    """``node_link_data`` of the nodes shown: a link to a node left out is
    left out too."""
    shown = {ident(node.get("id")) for node in nodes}
    graph: dict[str, Any] = {
        "nodes": nodes,
        "links": [
            link
            for link in links
            if ident(link.get("source")) in shown and ident(link.get("target")) in shown
        ],
    }
    if omitted:
        graph["nodes_omitted"] = omitted
    return graph


def ident(value: Any) -> Any:
    """A hashable stand-in for a node id as the document shows it."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _size(document: dict[str, Any]) -> int:
    return len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())


def _fit(document: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """Leave out nodes (and their links) until the document fits."""
    graph = document.get("graph")
    nodes = list(graph.get("nodes") or []) if isinstance(graph, dict) else []
    links = list(graph.get("links") or []) if isinstance(graph, dict) else []
    omitted = graph.get("nodes_omitted", 0) if isinstance(graph, dict) else 0
    keep = len(nodes)
    while True:
        keep //= 2
        document["graph"] = graph_layout(nodes[:keep], links, omitted + len(nodes) - keep)
        document["graph"].setdefault("nodes_omitted", 0)
        if _size(document) <= max_bytes:
            return document
        if keep == 0:
            break
    # Even without a graph it does not fit: keep only the short fields.
    lattice = document.get("lattice")
    document["lattice"] = lattice_layout(
        function_string=None,
        doc=None,
        name=lattice.get("name") if isinstance(lattice, dict) else None,
        inputs={},
        metadata={},
    )
    for key in ("result", "error"):
        value = document.get(key)
        if value is not None:
            document[key] = values.shorten_text(
                value if isinstance(value, str) else json.dumps(value), 1_024
            )
    return document


def named_inputs(params: list[tuple[str, int]] | None, args: Any, kwargs: Any) -> dict[Any, Any]:
    """``{**named_args, **named_kwargs}`` as Covalent 0.110 names a workflow's
    inputs, before ``encode_dict`` takes each one's ``str()``."""
    args = list(args) if isinstance(args, (list, tuple)) else []
    kwargs = kwargs if isinstance(kwargs, dict) else {}
    if params is None:
        # No signature to name the arguments by: Covalent's own naming of
        # extra positional arguments.
        return {**{f"arg[{i}]": value for i, value in enumerate(args)}, **kwargs}
    named_args, named_kwargs = named_params(params, args, kwargs)
    return {**named_args, **named_kwargs}
