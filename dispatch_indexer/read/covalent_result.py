"""Read the fields of a Covalent ``Result`` out of a ghost tree.

``safepickle`` gives us what the pickle said, not a live object: a ``Result``
is a ghost whose state dict holds ``_dispatch_id``, ``_status``, ``_lattice``
and so on. This module knows Covalent's attribute names (0.110, and the
older ones it has used) and nothing about how they were pickled.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..records import NodeSummary, latest
from . import values
from .safepickle import Ghost, as_ghost


class NotAResultError(ValueError):
    """The pickle loaded, but what it holds is not a Covalent Result."""


@dataclass
class ResultFields:
    dispatch_id: str | None
    status: str | None
    lattice_name: str | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    error: str | None
    num_nodes: int | None
    pickled_results_dir: str | None
    result: Any
    nodes: list[NodeSummary] = field(default_factory=list)
    ghost: Ghost | None = None

    @property
    def last_event(self) -> dt.datetime | None:
        times = [self.start_time, self.end_time]
        for node in self.nodes:
            times += [node.start_time, node.end_time]
        return latest(times)


def utc(value: Any) -> dt.datetime | None:
    """A timezone-aware UTC datetime, or None for anything else.

    Covalent stores aware UTC times; a naive one is taken to be UTC too.
    """
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:
        # Near datetime.min/max an offset moves the time out of range.
        return None


def status_text(value: Any) -> str | None:
    """Covalent's status string, verbatim, from a Status object or a string."""
    if isinstance(value, str):
        return value
    ghost = as_ghost(value)
    if ghost is None:
        return None
    state = ghost.state_dict
    for key in ("STATUS", "status", "_status", "value", "_value_"):
        text = state.get(key)
        if isinstance(text, str):
            return text
    if ghost.args and isinstance(ghost.args[0], str):
        return ghost.args[0]
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    ghost = as_ghost(value)
    if ghost is not None:
        # An exception object: its message is its first argument.
        if ghost.args and isinstance(ghost.args[0], str):
            return f"{ghost.type_name}: {ghost.args[0]}"
        return values.placeholder(ghost.type_name)
    return str(values.to_json(value))


# What the index's integer columns hold.
_INT64 = range(-(2**63), 2**63)


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value in _INT64:
        return value
    return None


def attrs_of(value: Any) -> dict[Any, Any]:
    """An object's attributes (a ghost's state dict, or a plain dict), else {}."""
    ghost = as_ghost(value)
    if ghost is not None:
        return ghost.state_dict
    return value if isinstance(value, dict) else {}


def graph_nodes(lattice: Any) -> dict[Any, dict[Any, Any]]:
    """The node attribute dicts of a lattice's transport graph, by node id."""
    graph = attrs_of(attrs_of(lattice).get("transport_graph")).get("_graph")
    nodes = attrs_of(graph).get("_node")
    return nodes if isinstance(nodes, dict) else {}


def graph_edges(lattice: Any) -> list[tuple[Any, Any, Any, dict[Any, Any]]]:
    """(source, target, key, attributes) for each edge of the transport graph."""
    graph = attrs_of(attrs_of(lattice).get("transport_graph")).get("_graph")
    adjacency = attrs_of(graph).get("_adj")
    edges = []
    if isinstance(adjacency, dict):
        for source, targets in adjacency.items():
            if not isinstance(targets, dict):
                continue
            for target, keyed in targets.items():
                if not isinstance(keyed, dict):
                    continue
                for key, attrs in keyed.items():
                    edges.append((source, target, key, attrs if isinstance(attrs, dict) else {}))
    return edges


def _node_summary(node_id: Any, attrs: dict[Any, Any]) -> NodeSummary:
    name = attrs.get("name")
    return NodeSummary(
        node_id=node_id
        if isinstance(node_id, str) or _int(node_id) is not None
        else values.key_text(node_id),
        name=name if isinstance(name, str) else None,
        status=status_text(attrs.get("status")),
        start_time=utc(attrs.get("start_time")),
        end_time=utc(attrs.get("end_time")),
        error=_text(attrs.get("error")),
    )


def interpret(root: Any) -> ResultFields:
    """The fields of the Result at the top of a ghost tree."""
    ghost = as_ghost(root)
    state = ghost.state_dict if ghost is not None else {}
    if ghost is None or ("_dispatch_id" not in state and "_status" not in state):
        kind = ghost.type_name if ghost is not None else type(root).__name__
        raise NotAResultError(f"the pickle holds a {kind}, not a Covalent Result")
    lattice = state.get("_lattice")
    lattice_attrs = attrs_of(lattice)
    name = lattice_attrs.get("__name__")
    dispatch_id = state.get("_dispatch_id")
    results_dir = state.get("_results_dir")
    nodes = [
        _node_summary(key, attrs)
        for key, attrs in graph_nodes(lattice).items()
        if isinstance(attrs, dict)
    ]
    return ResultFields(
        dispatch_id=dispatch_id if isinstance(dispatch_id, str) and dispatch_id else None,
        status=status_text(state.get("_status")),
        lattice_name=name if isinstance(name, str) else None,
        start_time=utc(state.get("_start_time")),
        end_time=utc(state.get("_end_time")),
        error=_text(state.get("_error")) or None,
        num_nodes=_int(state.get("_num_nodes")),
        pickled_results_dir=results_dir if isinstance(results_dir, str) else None,
        result=values.to_json(state.get("_result")),
        nodes=nodes,
        ghost=ghost,
    )
