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
  (``{"name": "dask"}``: Covalent's UI lists an executor as a dict);
- everything is bounded: long strings and bytes are shortened with a marker
  (``…``), big values are cut, and the whole document stays under
  ``MAX_DOCUMENT_BYTES`` (nodes beyond what fits are left out and counted in
  ``graph.nodes_omitted``).

This module fills the document's fields from a Result's state; ``doclayout``
lays them out (as ``moderndoc`` does for a modern server's dispatch) and keeps
the document under its size, ``render`` turns each value into what Covalent's
encoder writes, and ``functions`` reads the docstrings and the signature of
pickled functions.
"""

from __future__ import annotations

from typing import Any

from . import values
from .covalent_result import attrs_of, graph_edges, graph_nodes
from .doclayout import (
    MAX_DOCUMENT_BYTES,
    MAX_NODES,
    fitted,
    graph_layout,
    lattice_layout,
    layout,
    named_inputs,
)
from .functions import InnerBudget, pickled_doc, signature
from .mirror import Shown
from .render import Renderer
from .safepickle import as_ghost

__all__ = ["MAX_DOCUMENT_BYTES", "build_document", "document_text"]


def build_document(root: Any, results_dir: str | None = None) -> dict[str, Any] | None:
    """Covalent's UI document of the Result at the top of a ghost tree, or
    None when the tree does not hold a Result.

    ``results_dir``: where the dispatch's folder is now, shown as its
    ``results_dir`` (the UI's "Directory") instead of the one recorded in
    the pickle, which is gone once the folder has moved (the record keeps
    that one as ``pickled_results_dir``)."""
    built = _build(root, results_dir)
    return built[0] if built is not None else None


def document_text(root: Any, results_dir: str | None = None) -> str | None:
    """``build_document``'s document as the JSON text the index stores
    (``storable_json``): encoded once, where it is built, which is a reader
    process during a scan rather than the process that writes the index."""
    built = _build(root, results_dir)
    return built[1] if built is not None else None


def _build(root: Any, results_dir: str | None) -> tuple[dict[str, Any], str] | None:
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
    return fitted(lambda render: _Document(state, render, budget, docs, results_dir).document())


# A node's attributes that extract_graph_node leaves out, and those shown
# with a long text's allowance.
_NOT_SHOWN = frozenset(("function", "node_name"))
_LONG_TEXTS = frozenset(("error", "stdout", "stderr", "function_string", "sublattice_result"))


class _Document:
    """The document of one Result's state, its values shown by ``render``."""

    def __init__(
        self,
        state: dict[Any, Any],
        render: Renderer,
        budget: InnerBudget,
        docs: dict[str, Any],
        results_dir: str | None = None,
    ) -> None:
        self.state = state
        self.render = render
        self.budget = budget
        self.docs = docs
        self.results_dir = results_dir

    def document(self) -> dict[str, Any]:
        state = self.state
        r = self.render
        lattice = state.get("_lattice")
        lattice_attrs = attrs_of(lattice)
        return layout(
            dispatch_id=r.json(state.get("_dispatch_id")),
            status=r.json(state.get("_status")),
            result=r.json(state.get("_result")),
            start_time=r.json(state.get("_start_time")),
            end_time=r.json(state.get("_end_time")),
            results_dir=self.results_dir or r.json(state.get("_results_dir")),
            error=r.json(state.get("_error"), r.text_chars),
            lattice=lattice_layout(
                function_string=r.json(lattice_attrs.get("workflow_function_string"), r.text_chars),
                doc=r.json(lattice_attrs.get("__doc__"), r.text_chars),
                name=r.json(lattice_attrs.get("__name__")),
                inputs=self.inputs(lattice_attrs),
                metadata=self.lattice_metadata(lattice_attrs.get("metadata")),
            ),
            graph=self.graph(lattice),
        )

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
        for source, target, key, attrs in graph_edges(lattice):
            link = r.mapping(attrs, r.value_chars)
            link["source"] = r.json(source)
            link["target"] = r.json(target)
            link["key"] = r.json(key)
            links.append(link)
        return graph_layout(nodes, links, omitted)

    def node(self, node_id: Any, attrs: dict[Any, Any]) -> dict[str, Any]:
        """One node as ``extract_graph_node`` leaves it."""
        r = self.render
        out: dict[str, Any] = {}
        for key, value in attrs.items():
            if key in _NOT_SHOWN:
                continue
            name = r.key(key)
            if value is None:
                out[name] = None
            elif key == "metadata":
                out[name] = self.metadata(value)
            elif key in _LONG_TEXTS:
                out[name] = r.json(value, r.text_chars)
            else:
                out[name] = r.json(value)
        out["id"] = r.json(node_id)
        if "function" in attrs:
            out["doc"] = self.node_doc(node_id, attrs["function"])
        out["kwargs"] = r.str_dict(attrs.get("kwargs"))
        return out

    def lattice_metadata(self, metadata: Any) -> Any:
        out = self.metadata(metadata)
        if self.results_dir and isinstance(out, dict) and "results_dir" in out:
            out["results_dir"] = self.results_dir
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
            # Covalent's UI lists the executor's attributes: the name is all there is.
            out["executor"] = {"name": values.shorten_text(executor, 64)}
            out["executor_name"] = executor
        elif ghost is not None:
            # An executor object pickled with the workflow: its own attributes.
            out["executor"] = r.str_dict(ghost.state_dict)
            out["executor_name"] = f"<{ghost.type_name.rsplit('.', 1)[-1]}>"
        return out

    def inputs(self, lattice_attrs: dict[Any, Any]) -> Any:
        """``encode_dict({**named_args, **named_kwargs})``."""
        named = named_inputs(
            signature(lattice_attrs), lattice_attrs.get("args"), lattice_attrs.get("kwargs")
        )
        return self.render.str_dict(named)

    def node_doc(self, node_id: Any, function: Any) -> Any:
        """``node["function"].get_deserialized().__doc__``."""
        key = values.key_text(node_id)
        if key not in self.docs:
            self.docs[key] = pickled_doc(function, self.budget)
        doc = self.docs[key]
        if isinstance(doc, Shown):
            return doc.text
        return self.render.json(doc, self.render.text_chars)
