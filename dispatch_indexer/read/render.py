"""Values as Covalent's UI document holds them.

Covalent encodes its document with ``simplejson.dumps(result_dict,
default=result_encoder, ignore_nan=True)``: JSON types as themselves,
``nan`` as null, dict keys as simplejson writes them, a datetime as its
``isoformat()`` and anything else as its ``str()``. ``Renderer`` does the
same with what ``safepickle`` read, within a budget of characters per value
and per text, rebuilding ``str()`` from plain parts (``mirror``) where it
can and naming the type where only a live object could say more.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from . import values
from .covalent_result import graph_nodes, status_text
from .mirror import Mirror, ghost_placeholder
from .safepickle import Ghost, GhostClass, as_ghost
from .tree import MAX_DEPTH, TRUNCATED, TreeWalk

_EXCEPTION_SUFFIXES = ("Error", "Exception", "Warning", "Exit", "Interrupt", "Iteration")


class Renderer:
    """Values of one attempt at a document: ``value_chars`` characters per
    value, ``text_chars`` per long text (errors, outputs, source)."""

    def __init__(self, value_chars: int, text_chars: int) -> None:
        self.value_chars = value_chars
        self.text_chars = text_chars

    def key(self, key: Any) -> str:
        """A dict key as simplejson writes it."""
        if type(key) is str and len(key) <= 256:
            return key
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
        if kind is float:
            return value if math.isfinite(value) else None
        if kind is Ghost:
            # A task's status, several per document: what the walk below
            # makes of it (its text, short enough to be left whole).
            if value.type_name.endswith(".Status"):
                text = status_text(value)
                if text is not None and len(text) <= 64:
                    return text
        return _Json(self, limit).visit(value, 0)

    def mapping(self, value: dict[Any, Any], chars: int) -> dict[str, Any]:
        plain = plain_mapping(value, chars)
        if plain is not None:
            return plain
        converted = _Json(self, chars).mapping(value, 0)
        return converted if isinstance(converted, dict) else {}

    def text(self, value: Any, chars: int | None = None) -> str:
        """``str(value)``, rebuilt from plain data, shortened to ``chars``."""
        limit = self.value_chars if chars is None else chars
        if isinstance(value, str):
            return values.shorten_text(value, limit)
        kind = type(value)
        if kind is float or (kind is int and value.bit_length() <= 10_000):
            # What the mirror below leaves as it is.
            return values.shorten_text(str(value), limit)
        ghost = as_ghost(value)
        if ghost is not None or isinstance(value, GhostClass):
            return values.shorten_text(self.ghost_str(value), limit)
        mirrored = Mirror(limit).visit(value, 0)
        try:
            text = str(mirrored)
        except (ValueError, RecursionError, TypeError):
            text = values.placeholder(type(value).__name__)
        return values.shorten_text(text, limit)

    def str_dict(self, value: Any) -> Any:
        """``encode_dict``: a dict's values as their ``str()``."""
        if not isinstance(value, dict):
            return self.json(value)
        return _StrValues(self).mapping(value, 0)

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
        scalar = numpy_scalar(ghost)
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
        return ghost_placeholder(ghost)

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


class _Json(TreeWalk):
    """``simplejson.dumps(value, default=result_encoder, ignore_nan=True)``
    as data, within a budget of about ``chars`` characters."""

    def __init__(self, renderer: Renderer, chars: int) -> None:
        super().__init__(chars)
        self.renderer = renderer
        self.limit = chars

    def text(self, text: str) -> str:
        shown = values.shorten_text(text, max(16, min(self.left, self.limit)))
        self.left -= len(shown) + 2
        return shown

    def visit(self, value: Any, depth: int) -> Any:
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
        if isinstance(value, dict):
            return self.mapping(value, depth)
        if isinstance(value, (list, tuple)):
            return self.sequence(value, depth)
        ghost = as_ghost(value)
        if ghost is not None:
            if ghost.type_name == "collections.defaultdict":
                return self.mapping(dict(ghost.dict_items or ()), depth)
            scalar = numpy_scalar(ghost)
            if scalar is not None and scalar[0] == "f8" and isinstance(scalar[1], float):
                # numpy.float64 is a float to simplejson.
                return scalar[1] if math.isfinite(scalar[1]) else None
        # Everything else goes through result_encoder: str(obj).
        return self.text(self.renderer.text(value, max(16, min(self.left, self.limit))))

    def visit_key(self, key: Any, depth: int) -> str:
        name = self.renderer.key(key)
        self.left -= len(name) + 4
        return name


def plain_mapping(value: dict[Any, Any], chars: int) -> dict[str, Any] | None:
    """What ``_Json(renderer, chars).mapping(value, 0)`` gives for a small
    dict of short text keys and scalar values (a node's metadata, a link's
    attributes: several per document), without the walk: the walk's own
    spending of its budget, step by step, or None for any other dict."""
    if len(value) > 16:
        return None
    left = chars
    for key, item in value.items():
        if left <= 0 or type(key) is not str or len(key) > 256:
            return None
        left -= len(key) + 5  # visit_key, then visit's first 1
        kind = type(item)
        if item is None or kind is bool:
            continue
        if kind is str:
            if len(item) > max(16, min(left, chars)):
                return None
            left -= len(item) + 2
        elif kind is int and -(2**63) < item < 2**63:
            left -= 4
        else:
            return None
    return dict(value)


class _StrValues(TreeWalk):
    """``encode_dict``'s values: each one's ``str()``, all of them within
    about ``value_chars`` characters."""

    def __init__(self, renderer: Renderer) -> None:
        super().__init__(renderer.value_chars)
        self.renderer = renderer

    def visit(self, value: Any, depth: int) -> str:
        text = self.renderer.text(value, max(64, self.left))
        self.left -= len(text) + 8
        return text

    def visit_key(self, key: Any, depth: int) -> str:
        return self.renderer.key(key)


def numpy_scalar(ghost: Ghost) -> tuple[str, Any] | None:
    """(dtype code, value) of a numpy scalar, or None."""
    if not ghost.type_name.endswith("multiarray.scalar") or not ghost.args:
        return None
    dtype = as_ghost(ghost.args[0])
    if dtype is None or not dtype.args or not isinstance(dtype.args[0], str):
        return None
    return dtype.args[0], values.to_json(ghost, budget=8)
