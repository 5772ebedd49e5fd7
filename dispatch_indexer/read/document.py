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
"""

from __future__ import annotations

import ast
import base64
import datetime as dt
import json
import math
import textwrap
from collections import OrderedDict
from typing import Any

from ..text import storable_json
from . import values
from .covalent_result import graph_edges, graph_nodes, status_text
from .safepickle import Ghost, GhostClass, as_ghost, loads

MAX_DOCUMENT_BYTES = 1_000_000
# Nodes rendered at all; a larger graph could never fit the document anyway.
MAX_NODES = 20_000
# (characters per value, characters per text) for each attempt: a document
# over MAX_DOCUMENT_BYTES is rendered again with the next, tighter, limits.
_LIMITS = ((16_384, 65_536), (2_048, 8_192), (256, 1_024))
# Base64 characters of the nodes' pickled functions decoded (for their doc).
MAX_INNER_PICKLES = 16 * 1024 * 1024
MAX_DEPTH = 32
# Source text parsed (never run) to find the workflow's parameter names.
MAX_SOURCE_CHARS = 256 * 1024
TRUNCATED = values.TRUNCATED

# inspect.Parameter kinds, as get_named_params sees them.
_POSITIONAL_ONLY, _POSITIONAL_OR_KEYWORD, _VAR_POSITIONAL, _KEYWORD_ONLY, _VAR_KEYWORD = range(5)
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
_CO_HAS_DOCSTRING = 0x4000000  # Python 3.14+
_EXCEPTION_SUFFIXES = ("Error", "Exception", "Warning", "Exit", "Interrupt", "Iteration")


# Docstrings by the pickled function they came from; oldest dropped first.
_DOC_CACHE: dict[tuple[str, str | None], Any] = {}
_DOC_CACHE_SIZE = 2048


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
    cache: dict[Any, Any] = {"inner_left": MAX_INNER_PICKLES}
    document: dict[str, Any] = {}
    for value_chars, text_chars in _LIMITS:
        document = _Renderer(state, cache, value_chars, text_chars).document()
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


class _Shown:
    """Stands in for an object inside a container rebuilt for ``str()``:
    its repr is the placeholder (or text) we can give for it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


class _Renderer:
    def __init__(
        self, state: dict[Any, Any], cache: dict[Any, Any], value_chars: int, text_chars: int
    ) -> None:
        self.state = state
        self.cache = cache
        self.value_chars = value_chars
        self.text_chars = text_chars

    # ---- the document ---------------------------------------------------

    def document(self) -> dict[str, Any]:
        state = self.state
        lattice = state.get("_lattice")
        lattice_attrs = _attrs(lattice)
        return {
            "dispatch_id": self.json(state.get("_dispatch_id")),
            "status": self.json(state.get("_status")),
            "result": self.json(state.get("_result")),
            "start_time": self.json(state.get("_start_time")),
            "end_time": self.json(state.get("_end_time")),
            "results_dir": self.json(state.get("_results_dir")),
            "error": self.json(state.get("_error"), self.text_chars),
            "lattice": {
                "function_string": self.json(
                    lattice_attrs.get("workflow_function_string"), self.text_chars
                ),
                "doc": self.json(lattice_attrs.get("__doc__"), self.text_chars),
                "name": self.json(lattice_attrs.get("__name__")),
                "inputs": self.inputs(lattice_attrs),
                "metadata": self.metadata(lattice_attrs.get("metadata")),
            },
            "graph": self.graph(lattice),
        }

    def graph(self, lattice: Any) -> dict[str, Any]:
        # networkx's node_link_data: each node's attributes, then its id.
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
            link = self.mapping(attrs, self.value_chars)
            link["source"] = self.json(source)
            link["target"] = self.json(target)
            link["key"] = self.json(key)
            if _ident(link["source"]) in shown and _ident(link["target"]) in shown:
                links.append(link)
        graph: dict[str, Any] = {"nodes": nodes, "links": links}
        if omitted:
            graph["nodes_omitted"] = omitted
        return graph

    def node(self, node_id: Any, attrs: dict[Any, Any]) -> dict[str, Any]:
        """One node as ``extract_graph_node`` leaves it."""
        out: dict[str, Any] = {}
        for key, value in attrs.items():
            if key in ("function", "node_name"):
                continue
            name = self.key(key)
            if key == "metadata":
                out[name] = self.metadata(value)
            elif key in ("error", "stdout", "stderr", "function_string", "sublattice_result"):
                out[name] = self.json(value, self.text_chars)
            else:
                out[name] = self.json(value)
        out["id"] = self.json(node_id)
        if "function" in attrs:
            out["doc"] = self.node_doc(node_id, attrs["function"])
        out["kwargs"] = self.str_dict(attrs.get("kwargs"))
        return out

    def metadata(self, metadata: Any) -> Any:
        """``extract_metadata``: the executor resolved to its attributes."""
        if not isinstance(metadata, dict):
            return self.json(metadata)
        out = self.mapping(metadata, self.value_chars)
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
            out["executor"] = self.str_dict(ghost.state_dict)
            out["executor_name"] = f"<{ghost.type_name.rsplit('.', 1)[-1]}>"
        return out

    def inputs(self, lattice_attrs: dict[Any, Any]) -> Any:
        """``encode_dict({**named_args, **named_kwargs})``."""
        args = lattice_attrs.get("args")
        kwargs = lattice_attrs.get("kwargs")
        args = list(args) if isinstance(args, (list, tuple)) else []
        kwargs = kwargs if isinstance(kwargs, dict) else {}
        params = _signature(lattice_attrs)
        if params is None:
            # No signature to name the arguments by: Covalent's own naming
            # of extra positional arguments.
            named_args = {f"arg[{i}]": value for i, value in enumerate(args)}
            named_kwargs = dict(kwargs)
        else:
            named_args, named_kwargs = _named_params(params, args, kwargs)
        return self.str_dict({**named_args, **named_kwargs})

    def node_doc(self, node_id: Any, function: Any) -> Any:
        """``node["function"].get_deserialized().__doc__``."""
        docs = self.cache.setdefault("docs", {})
        key = values.key_text(node_id)
        if key not in docs:
            docs[key] = self._node_doc(function)
        doc = docs[key]
        return self.json(doc, self.text_chars) if not isinstance(doc, _Shown) else doc.text

    def _node_doc(self, function: Any) -> Any:
        ghost = as_ghost(function)
        if ghost is None:
            return _doc_of(function)
        state = ghost.state_dict
        encoded = state.get("_object")
        if not isinstance(encoded, str):
            return _Shown(values.placeholder(f"doc of {ghost.type_name}"))
        if len(encoded) > self.cache["inner_left"]:
            return _Shown(values.placeholder("doc", "not read: over the size limit"))
        version = state.get("python_version")
        version = version if isinstance(version, str) else None
        # The docstring is a pure function of the pickled function's bytes,
        # and every dispatch of a workflow carries the same bytes: remember it.
        key = (encoded, version)
        if key in _DOC_CACHE:
            return _DOC_CACHE[key]
        self.cache["inner_left"] -= len(encoded)
        try:
            inner = loads(base64.b64decode(encoded, validate=True))
        except Exception:  # noqa: BLE001 - any failure means "cannot show it"
            return _Shown(values.placeholder("doc", "unreadable"))
        doc = _doc_of(inner, version)
        if len(_DOC_CACHE) >= _DOC_CACHE_SIZE:
            _DOC_CACHE.pop(next(iter(_DOC_CACHE)))
        _DOC_CACHE[key] = doc
        return doc

    # ---- values ---------------------------------------------------------

    def key(self, key: Any) -> str:
        """A dict key as simplejson writes it."""
        if isinstance(key, str):
            return values.shorten_text(key, 256)
        if key is True:
            return "true"
        if key is False:
            return "false"
        if key is None:
            return "null"
        if isinstance(key, int):
            return values.int_text(key)
        if isinstance(key, float):
            return repr(key) if math.isfinite(key) else "null"
        if isinstance(key, bytes):
            try:
                return values.shorten_text(key.decode("utf-8"), 256)
            except UnicodeDecodeError:
                return values.show_bytes(key)
        # simplejson refuses other keys; name what it was.
        return values.key_text(key)

    def json(self, value: Any, chars: int | None = None) -> Any:
        limit = self.value_chars if chars is None else chars
        # Most values in a document are small scalars; they need no budget.
        kind = type(value)
        if value is None or kind is bool:
            return value
        if kind is int and -(2**63) < value < 2**63:
            return value
        if kind is str and len(value) <= limit // 2:
            return value
        if kind is dt.datetime:
            return value.isoformat()
        return _Json(self, limit).convert(value, 0)

    def mapping(self, value: dict[Any, Any], chars: int) -> dict[str, Any]:
        converted = _Json(self, chars).mapping(value, 0)
        return converted if isinstance(converted, dict) else {}

    def text(self, value: Any, chars: int | None = None) -> str:
        """``str(value)``, rebuilt from plain data, shortened to ``chars``."""
        limit = self.value_chars if chars is None else chars
        if isinstance(value, str):
            return values.shorten_text(value, limit)
        ghost = as_ghost(value)
        if ghost is not None or isinstance(value, GhostClass):
            return values.shorten_text(self.ghost_str(value), limit)
        mirrored = _Mirror(self, limit).mirror(value, 0)
        try:
            text = str(mirrored)
        except (ValueError, RecursionError, TypeError):
            text = values.placeholder(type(value).__name__)
        return values.shorten_text(text, limit)

    def str_dict(self, value: Any) -> Any:
        """``encode_dict``: a dict's values as their ``str()``."""
        if not isinstance(value, dict):
            return self.json(value)
        out: dict[str, Any] = {}
        left = self.value_chars
        for index, (key, item) in enumerate(value.items()):
            if index >= values.MAX_ITEMS or left <= 0:
                out[TRUNCATED] = f"{len(value) - index:,} more"
                break
            text = self.text(item, max(64, left))
            left -= len(text) + 8
            out[self.key(key)] = text
        return out

    # ---- objects only a live process could show: str(obj) ---------------

    def ghost_str(self, value: Any) -> str:
        """``str(obj)`` of an object we hold as a ghost, rebuilt when its
        str is made of plain data, else a placeholder naming its type."""
        if isinstance(value, GhostClass) and value.ghost_origin is None:
            return f"<class '{value.qualified_name}'>"
        ghost = as_ghost(value)
        if ghost is None:
            return values.placeholder(type(value).__name__)
        name = ghost.type_name
        state = ghost.state_dict
        if name.endswith(".Status") or isinstance(state.get("STATUS"), str):
            text = status_text(ghost)
            if text is not None:
                return text
        if name.endswith("result.Result") and "_dispatch_id" in state:
            return self.result_str(state)
        scalar = _numpy_scalar(ghost)
        if scalar is not None:
            code, number = scalar
            if isinstance(number, (bool, int)) and code[:1] in ("i", "u", "b"):
                return str(number)
            if isinstance(number, float) and code == "f8":
                return repr(number)
        if name.startswith("builtins.") and name.endswith(_EXCEPTION_SUFFIXES):
            args = ghost.args
            if not isinstance(args, tuple) or len(args) == 0:
                return ""
            if len(args) == 1:
                return self.repr(args[0]) if name == "builtins.KeyError" else self.text(args[0])
            return self.text(tuple(args))
        return _placeholder(ghost)

    def repr(self, value: Any) -> str:
        return self.text([value])[1:-1]

    def result_str(self, state: dict[Any, Any]) -> str:
        """``str(Result)``, as Covalent 0.110's ``Result.__str__`` writes it."""
        status = state.get("_status")
        status_shown = status_text(status) if as_ghost(status) is not None else None
        text = (
            "\nLattice Result\n==============\n"
            f"status: {status_shown if status_shown is not None else self.text(status)}\n"
            f"result: {self.text(state.get('_result'))}\n"
            f"inputs: {self.text(state.get('_inputs'))}\n"
            f"error: {self.text(state.get('_error'))}\n\n"
            f"start_time: {self.text(state.get('_start_time'))}\n"
            f"end_time: {self.text(state.get('_end_time'))}\n\n"
            f"results_dir: {self.text(state.get('_results_dir'))}\n"
            f"dispatch_id: {self.text(state.get('_dispatch_id'))}\n\n"
            "Node Outputs\n------------\n"
        )
        parts = [text]
        left = self.text_chars - len(text)
        for node_id, attrs in graph_nodes(state.get("_lattice")).items():
            if left <= 0:
                parts.append(TRUNCATED)
                break
            if not isinstance(attrs, dict):
                continue
            line = f"{self.text(attrs.get('name'))}({self.text(node_id)}): "
            line += f"{self.text(attrs.get('output'), max(64, left))}\n"
            parts.append(line)
            left -= len(line)
        return values.shorten_text("".join(parts), self.text_chars)


class _Json:
    """``simplejson.dumps(value, default=result_encoder, ignore_nan=True)``
    as data, within a budget of about ``chars`` characters."""

    def __init__(self, renderer: _Renderer, chars: int) -> None:
        self.renderer = renderer
        self.left = chars
        self.limit = chars
        self.active: set[int] = set()

    def text(self, text: str) -> str:
        shown = values.shorten_text(text, max(16, min(self.left, self.limit)))
        self.left -= len(shown) + 2
        return shown

    def convert(self, value: Any, depth: int) -> Any:
        self.left -= 1
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            self.left -= 4
            return value if abs(value) < 2**63 else self.text(values.int_text(value))
        if isinstance(value, float):
            self.left -= 8
            return value if math.isfinite(value) else None
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            # simplejson writes bytes as the text they decode to (UTF-8).
            if len(value) <= max(16, min(self.left, self.limit)):
                try:
                    return self.text(value.decode("utf-8"))
                except UnicodeDecodeError:
                    pass
            return self.text(values.show_bytes(value))
        if isinstance(value, dt.datetime):
            return self.text(value.isoformat())
        if self.left <= 0 or depth >= MAX_DEPTH:
            return TRUNCATED
        if isinstance(value, (dict, list, tuple)):
            key = id(value)
            if key in self.active:
                return "<cycle>"
            self.active.add(key)
            try:
                if isinstance(value, dict):
                    return self.mapping(value, depth)
                return self.sequence(value, depth)
            finally:
                self.active.discard(key)
        ghost = as_ghost(value)
        if ghost is not None:
            if ghost.type_name == "collections.defaultdict":
                return self.mapping(dict(ghost.dict_items or ()), depth)
            scalar = _numpy_scalar(ghost)
            if scalar is not None and scalar[0] == "f8" and isinstance(scalar[1], float):
                # numpy.float64 is a float to simplejson.
                return scalar[1] if math.isfinite(scalar[1]) else None
        # Everything else goes through result_encoder: str(obj).
        return self.text(self.renderer.text(value, max(16, min(self.left, self.limit))))

    def mapping(self, value: dict[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= values.MAX_ITEMS or self.left <= 0:
                out[TRUNCATED] = f"{len(value) - index:,} more"
                break
            name = self.renderer.key(key)
            self.left -= len(name) + 4
            out[name] = self.convert(item, depth + 1)
        return out

    def sequence(self, value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
        out = []
        for index, item in enumerate(value):
            if index >= values.MAX_ITEMS or self.left <= 0:
                out.append(f"{TRUNCATED} {len(value) - index:,} more")
                break
            out.append(self.convert(item, depth + 1))
        return out


# Real values whose str()/repr() is fixed by the standard library.
_PLAIN = (str, int, float, complex, bytes, bytearray, dt.datetime, dt.date, dt.time, dt.timedelta)


class _Mirror:
    """A copy of plain containers whose str() is the original's, with every
    object we only hold as a ghost replaced by its placeholder."""

    def __init__(self, renderer: _Renderer, chars: int) -> None:
        self.renderer = renderer
        self.left = chars
        self.active: set[int] = set()

    def mirror(self, value: Any, depth: int) -> Any:
        self.left -= 1
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > 10_000:
                return _Shown(values.int_text(value))
            self.left -= 4
            return value
        if isinstance(value, (str, bytes, bytearray)):
            if len(value) > max(16, self.left):
                if isinstance(value, str):
                    return values.shorten_text(value, max(16, self.left))
                return _Shown(values.show_bytes(value))
            self.left -= len(value)
            return value
        if isinstance(value, _PLAIN) or isinstance(value, dt.timezone):
            self.left -= 16
            return value
        if self.left <= 0 or depth >= MAX_DEPTH:
            return _Shown(TRUNCATED)
        if isinstance(value, GhostClass) and value.ghost_origin is None:
            return _Shown(f"<class '{value.qualified_name}'>")
        ghost = as_ghost(value)
        if ghost is not None:
            return _Shown(_placeholder(ghost))
        if not isinstance(value, (dict, list, tuple, set, frozenset)):
            return _Shown(values.placeholder(type(value).__name__))
        key = id(value)
        if key in self.active:
            return _Shown("{...}" if isinstance(value, dict) else "[...]")
        self.active.add(key)
        try:
            if isinstance(value, dict):
                items = []
                for index, (k, v) in enumerate(value.items()):
                    if index >= values.MAX_ITEMS or self.left <= 0:
                        items.append((_Shown(TRUNCATED), _Shown(f"{len(value) - index:,} more")))
                        break
                    items.append((self.mirror(k, depth + 1), self.mirror(v, depth + 1)))
                return OrderedDict(items) if isinstance(value, OrderedDict) else dict(items)
            out = []
            for index, item in enumerate(value):
                if index >= values.MAX_ITEMS or self.left <= 0:
                    out.append(_Shown(f"{TRUNCATED} {len(value) - index:,} more"))
                    break
                out.append(self.mirror(item, depth + 1))
            if isinstance(value, list):
                return out
            if isinstance(value, tuple):
                return tuple(out)
            try:
                return type(value)(out)
            except TypeError:  # an item that cannot be hashed
                return _Shown(values.placeholder(type(value).__name__))
        finally:
            self.active.discard(key)


def _ident(value: Any) -> Any:
    """A hashable stand-in for a node id as the document shows it."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _placeholder(ghost: Ghost) -> str:
    """The placeholder ``values`` gives an object (numpy arrays get their
    shape and dtype), never anything it would unpack."""
    if ghost.type_name.startswith("numpy."):
        shown = values.to_json(ghost, budget=64)
        if isinstance(shown, str) and shown.startswith("<"):
            return shown
    return values.placeholder(ghost.type_name)


def _numpy_scalar(ghost: Ghost) -> tuple[str, Any] | None:
    """(dtype code, value) of a numpy scalar, or None."""
    if not ghost.type_name.endswith("multiarray.scalar") or not ghost.args:
        return None
    dtype = as_ghost(ghost.args[0])
    if dtype is None or not dtype.args or not isinstance(dtype.args[0], str):
        return None
    return dtype.args[0], values.to_json(ghost, budget=8)


def _attrs(value: Any) -> dict[Any, Any]:
    ghost = as_ghost(value)
    if ghost is not None:
        return ghost.state_dict
    return value if isinstance(value, dict) else {}


def _doc_of(obj: Any, python_version: str | None = None) -> Any:
    """``obj.__doc__`` of the object a node runs, from what was pickled."""
    if obj is None:
        return None  # a parameter node: None.__doc__
    if isinstance(obj, GhostClass) and obj.ghost_origin is None:
        # Pickled by reference (an importable function): its docstring is
        # in its module, not in the pickle.
        return _Shown(values.placeholder(f"doc of {obj.qualified_name}"))
    ghost = as_ghost(obj)
    if ghost is None:
        return _Shown(values.placeholder(f"doc of {type(obj).__name__}"))
    state = ghost.state_dict
    if "__doc__" in state:  # a Lattice (a sublattice node) keeps its own
        doc = state["__doc__"]
        return doc if doc is None or isinstance(doc, str) else _Shown(values.placeholder("doc"))
    code = _code_args(ghost)
    if code is not None:
        flags, consts = code[5], code[7]
        first = consts[0] if consts else None
        if not isinstance(first, str):
            return None
        if _version(python_version) >= (3, 14) and not flags & _CO_HAS_DOCSTRING:
            return None
        # CPython (before 3.14) keeps a function's docstring as its first
        # constant, and None there when it has none.
        return first
    return _Shown(values.placeholder(f"doc of {ghost.type_name}"))


def _version(text: str | None) -> tuple[int, int]:
    try:
        major, minor = (text or "").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return (0, 0)


def _code_args(function: Ghost) -> tuple[Any, ...] | None:
    """The arguments cloudpickle gave ``types.CodeType`` for a function's
    code (Python 3.8+: argcount, posonlyargcount, kwonlyargcount, nlocals,
    stacksize, flags, codestring, consts, names, varnames, ...)."""
    if not function.args:
        return None
    code = as_ghost(function.args[0])
    if code is None:
        return None
    args = code.args
    if len(args) < 10 or not isinstance(args, tuple):
        return None
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args[:6]):
        return None
    if not isinstance(args[6], bytes) or not all(isinstance(a, tuple) for a in args[7:10]):
        return None
    return args


def _signature(lattice_attrs: dict[Any, Any]) -> list[tuple[str, int]] | None:
    """The workflow function's parameters (name, kind), in signature order:
    from its pickled code object, else from its source text (parsed, never
    run)."""
    function = as_ghost(lattice_attrs.get("workflow_function"))
    code = _code_args(function) if function is not None else None
    if code is not None:
        params = _signature_from_code(code)
        if params is not None:
            return params
    return _signature_from_source(lattice_attrs.get("workflow_function_string"))


def _signature_from_code(code: tuple[Any, ...]) -> list[tuple[str, int]] | None:
    argcount, posonly, kwonly, flags = code[0], code[1], code[2], code[5]
    names = code[9]
    wanted = argcount + kwonly + bool(flags & _CO_VARARGS) + bool(flags & _CO_VARKEYWORDS)
    if posonly > argcount or wanted > len(names) or not all(isinstance(n, str) for n in names):
        return None
    params = [(names[i], _POSITIONAL_ONLY) for i in range(posonly)]
    params += [(names[i], _POSITIONAL_OR_KEYWORD) for i in range(posonly, argcount)]
    index = argcount + kwonly
    if flags & _CO_VARARGS:
        params.append((names[index], _VAR_POSITIONAL))
        index += 1
    params += [(names[i], _KEYWORD_ONLY) for i in range(argcount, argcount + kwonly)]
    if flags & _CO_VARKEYWORDS:
        params.append((names[index], _VAR_KEYWORD))
    return params


def _signature_from_source(source: Any) -> list[tuple[str, int]] | None:
    if not isinstance(source, str) or len(source) > MAX_SOURCE_CHARS:
        return None
    try:
        tree = ast.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            params = [(p.arg, _POSITIONAL_ONLY) for p in a.posonlyargs]
            params += [(p.arg, _POSITIONAL_OR_KEYWORD) for p in a.args]
            if a.vararg is not None:
                params.append((a.vararg.arg, _VAR_POSITIONAL))
            params += [(p.arg, _KEYWORD_ONLY) for p in a.kwonlyargs]
            if a.kwarg is not None:
                params.append((a.kwarg.arg, _VAR_KEYWORD))
            return params
    return None


def _named_params(
    params: list[tuple[str, int]], args: list[Any], kwargs: dict[Any, Any]
) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Covalent 0.110's ``get_named_params``, quirks included (a keyword
    parameter adds every keyword argument but the one named like itself)."""
    named_args: dict[Any, Any] = {}
    named_kwargs: dict[Any, Any] = {}
    for index, (name, kind) in enumerate(params):
        if kind in (_POSITIONAL_ONLY, _POSITIONAL_OR_KEYWORD):
            if name in kwargs:
                named_kwargs[name] = kwargs[name]
            elif index < len(args):
                named_args[name] = args[index]
        elif kind == _VAR_POSITIONAL:
            for i in range(index, len(args)):
                named_args[f"arg[{i}]"] = args[i]
        else:
            for key, value in kwargs.items():
                if key != name:
                    named_kwargs[key] = value
    return named_args, named_kwargs
