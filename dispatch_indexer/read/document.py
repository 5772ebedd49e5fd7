"""The document Covalent's UI reads, built from the ghost tree of a Result.

Covalent 0.110 keeps, for its UI, one JSON document per dispatch: what
``covalent_dispatcher._db.dispatchdb.encode_result`` makes of a live
``Result``, that is ``simplejson.dumps(result_dict, default=result_encoder,
ignore_nan=True)`` where ``result_encoder`` turns a ``Status`` into its text,
a datetime into ``isoformat()`` and anything else into ``str(obj)``. This
module builds the same document from what ``safepickle`` read, without
importing or running anything:

- plain data (numbers, strings, lists, dicts, datetimes, sets...) comes out
  exactly as Covalent's encoder writes it; so do the values Covalent renders
  with ``str()`` (the lattice's ``inputs``, a node's ``kwargs``) and the
  ``str()`` of a sub-``Result`` (a node's ``sublattice_result``), rebuilt
  here from their plain parts;
- what only a live object can say becomes a short placeholder naming its
  type: the ``str()`` of a numpy array (``<numpy.ndarray shape=(1000,)
  dtype=float64>``), of an instance of a user's class (``<__main__.Measurement>``),
  and the settings of an executor named by its plugin name, which Covalent
  reads from its own running configuration, not from ``result.pkl``
  (``<executor dask>``);
- everything is bounded: long strings and bytes are shortened with a marker
  (``…``), big values are cut, and the whole document stays under
  ``MAX_DOCUMENT_BYTES`` (nodes beyond what fits are left out and counted in
  ``graph.nodes_omitted``).

This module lays out the document (its fields, the graph's nodes and links)
and keeps it under its size; ``render`` turns each value into what Covalent's
encoder writes, and ``functions`` reads the docstrings and the signature of
pickled functions.
"""

from __future__ import annotations

import json
from typing import Any

from ..text import storable_json
from . import values
from .covalent_result import attrs_of, graph_edges, graph_nodes
from .functions import InnerBudget, named_params, pickled_doc, signature
from .mirror import Shown
from .render import Renderer
from .safepickle import as_ghost

MAX_DOCUMENT_BYTES = 1_000_000
# Nodes rendered at all; a larger graph could never fit the document anyway.
MAX_NODES = 20_000
# (characters per value, characters per text) for each attempt: a document
# over MAX_DOCUMENT_BYTES is rendered again with the next, tighter, limits.
_LIMITS = ((16_384, 65_536), (2_048, 8_192), (256, 1_024))


def build_document(root: Any) -> dict[str, Any] | None:
    """Covalent's UI document of the Result at the top of a ghost tree, or
    None when the tree does not hold a Result."""
    built = _build(root)
    return built[0] if built is not None else None


def document_text(root: Any) -> str | None:
    """``build_document``'s document as the JSON text the index stores
    (``storable_json``): encoded once, where it is built, which is a reader
    process during a scan rather than the process that writes the index."""
    built = _build(root)
    return built[1] if built is not None else None


def _build(root: Any) -> tuple[dict[str, Any], str] | None:
    ghost = as_ghost(root)
    if ghost is None:
        return None
    state = ghost.state_dict
    if "_dispatch_id" not in state and "_status" not in state:
        return None
    # Shared by the attempts: a retry with tighter limits neither decodes the
    # nodes' pickled functions again nor gets a fresh allowance for them.
    budget = InnerBudget(values.MAX_INNER_PICKLES)
    docs: dict[str, Any] = {}
    document: dict[str, Any] = {}
    for value_chars, text_chars in _LIMITS:
        render = Renderer(value_chars, text_chars)
        document = _Document(state, render, budget, docs).document()
        text = storable_json(document)
        if _text_bytes(text) <= MAX_DOCUMENT_BYTES:
            return document, text
    document = _fit(document)
    return document, storable_json(document)


def _text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _size(document: dict[str, Any]) -> int:
    return len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())


def _fit(document: dict[str, Any]) -> dict[str, Any]:
    """Leave out nodes (and their links) until the document fits."""
    graph = document.get("graph")
    nodes = list(graph.get("nodes") or []) if isinstance(graph, dict) else []
    links = list(graph.get("links") or []) if isinstance(graph, dict) else []
    omitted = graph.get("nodes_omitted", 0) if isinstance(graph, dict) else 0
    keep = len(nodes)
    while True:
        keep //= 2
        kept = nodes[:keep]
        ids = {_ident(node.get("id")) for node in kept}
        document["graph"] = {
            "nodes": kept,
            "links": [
                link
                for link in links
                if _ident(link.get("source")) in ids and _ident(link.get("target")) in ids
            ],
            "nodes_omitted": omitted + len(nodes) - keep,
        }
        if _size(document) <= MAX_DOCUMENT_BYTES:
            return document
        if keep == 0:
            break
    # Even without a graph it does not fit: keep only the short fields.
    lattice = document.get("lattice")
    document["lattice"] = {
        "name": lattice.get("name") if isinstance(lattice, dict) else None,
        "doc": None,
        "function_string": None,
        "inputs": {},
        "metadata": {},
    }
    for key in ("result", "error"):
        value = document.get(key)
        if value is not None:
            document[key] = values.shorten_text(
                value if isinstance(value, str) else json.dumps(value), 1_024
            )
    return document


class _Document:
    """The document of one Result's state, its values shown by ``render``."""

    def __init__(
        self,
        state: dict[Any, Any],
        render: Renderer,
        budget: InnerBudget,
        docs: dict[str, Any],
    ) -> None:
        self.state = state
        self.render = render
        self.budget = budget
        self.docs = docs

    def document(self) -> dict[str, Any]:
        state = self.state
        r = self.render
        lattice = state.get("_lattice")
        lattice_attrs = attrs_of(lattice)
        return {
            "dispatch_id": r.json(state.get("_dispatch_id")),
            "status": r.json(state.get("_status")),
            "result": r.json(state.get("_result")),
            "start_time": r.json(state.get("_start_time")),
            "end_time": r.json(state.get("_end_time")),
            "results_dir": r.json(state.get("_results_dir")),
            "error": r.json(state.get("_error"), r.text_chars),
            "lattice": {
                "function_string": r.json(
                    lattice_attrs.get("workflow_function_string"), r.text_chars
                ),
                "doc": r.json(lattice_attrs.get("__doc__"), r.text_chars),
                "name": r.json(lattice_attrs.get("__name__")),
                "inputs": self.inputs(lattice_attrs),
                "metadata": self.metadata(lattice_attrs.get("metadata")),
            },
            "graph": self.graph(lattice),
        }

    def graph(self, lattice: Any) -> dict[str, Any]:
        # networkx's node_link_data: each node's attributes, then its id.
        r = self.render
        nodes = []
        omitted = 0
        for node_id, attrs in graph_nodes(lattice).items():
            if len(nodes) >= MAX_NODES:
                omitted += 1
                continue
            if isinstance(attrs, dict):
                nodes.append(self.node(node_id, attrs))
        links = []
        shown = {_ident(node["id"]) for node in nodes}
        for source, target, key, attrs in graph_edges(lattice):
            link = r.mapping(attrs, r.value_chars)
            link["source"] = r.json(source)
            link["target"] = r.json(target)
            link["key"] = r.json(key)
            if _ident(link["source"]) in shown and _ident(link["target"]) in shown:
                links.append(link)
        graph: dict[str, Any] = {"nodes": nodes, "links": links}
        if omitted:
            graph["nodes_omitted"] = omitted
        return graph

    def node(self, node_id: Any, attrs: dict[Any, Any]) -> dict[str, Any]:
        """One node as ``extract_graph_node`` leaves it."""
        r = self.render
        out: dict[str, Any] = {}
        for key, value in attrs.items():
            if key in ("function", "node_name"):
                continue
            name = r.key(key)
            if key == "metadata":
                out[name] = self.metadata(value)
            elif key in ("error", "stdout", "stderr", "function_string", "sublattice_result"):
                out[name] = r.json(value, r.text_chars)
            else:
                out[name] = r.json(value)
        out["id"] = r.json(node_id)
        if "function" in attrs:
            out["doc"] = self.node_doc(node_id, attrs["function"])
        out["kwargs"] = r.str_dict(attrs.get("kwargs"))
        return out

    def metadata(self, metadata: Any) -> Any:
        """``extract_metadata``: the executor resolved to its attributes."""
        r = self.render
        if not isinstance(metadata, dict):
            return r.json(metadata)
        out = r.mapping(metadata, r.value_chars)
        if "executor" not in metadata:
            return out
        executor = metadata["executor"]
        ghost = as_ghost(executor)
        if isinstance(executor, str):
            # Covalent asks its running executor plugin of that name for its
            # settings; they are not in result.pkl.
            out["executor"] = values.placeholder("executor", values.shorten_text(executor, 64))
            out["executor_name"] = executor
        elif ghost is not None:
            # An executor object pickled with the workflow: its own attributes.
            out["executor"] = r.str_dict(ghost.state_dict)
            out["executor_name"] = f"<{ghost.type_name.rsplit('.', 1)[-1]}>"
        return out

    def inputs(self, lattice_attrs: dict[Any, Any]) -> Any:
        """``encode_dict({**named_args, **named_kwargs})``."""
        args = lattice_attrs.get("args")
        kwargs = lattice_attrs.get("kwargs")
        args = list(args) if isinstance(args, (list, tuple)) else []
        kwargs = kwargs if isinstance(kwargs, dict) else {}
        params = signature(lattice_attrs)
        if params is None:
            # No signature to name the arguments by: Covalent's own naming
            # of extra positional arguments.
            named_args = {f"arg[{i}]": value for i, value in enumerate(args)}
            named_kwargs = dict(kwargs)
        else:
            named_args, named_kwargs = named_params(params, args, kwargs)
        return self.render.str_dict({**named_args, **named_kwargs})

    def node_doc(self, node_id: Any, function: Any) -> Any:
        """``node["function"].get_deserialized().__doc__``."""
        key = values.key_text(node_id)
        if key not in self.docs:
            self.docs[key] = pickled_doc(function, self.budget)
        doc = self.docs[key]
        if isinstance(doc, Shown):
            return doc.text
        return self.render.json(doc, self.render.text_chars)


def _ident(value: Any) -> Any:
    """A hashable stand-in for a node id as the document shows it."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    return json.dumps(value, sort_keys=True, default=str)
