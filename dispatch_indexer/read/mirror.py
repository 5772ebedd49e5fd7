"""``str()`` of a value we hold only as plain data and ghosts.

Covalent writes some values into its UI document as their ``str()``: the
lattice's inputs, a node's kwargs, anything its JSON encoder does not know.
A container's ``str()`` is fixed by the standard library once its items are
known, so we rebuild the container (a *mirror*) with every object we could
not load replaced by a ``Shown`` whose repr is its placeholder, and let
Python write the text. The mirror is bounded like every walk of a ghost tree.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Any

from . import values
from .safepickle import Ghost, GhostClass, as_ghost

MAX_DEPTH = 32
TRUNCATED = values.TRUNCATED

# Real values whose str()/repr() is fixed by the standard library.
_PLAIN = (str, int, float, complex, bytes, bytearray, dt.datetime, dt.date, dt.time, dt.timedelta)


class Shown:
    """Stands in for an object inside a container rebuilt for ``str()``:
    its repr is the placeholder (or text) we can give for it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def ghost_placeholder(ghost: Ghost) -> str:
    """The placeholder ``values`` gives an object (numpy arrays get their
    shape and dtype), never anything it would unpack."""
    if ghost.type_name.startswith("numpy."):
        shown = values.to_json(ghost, budget=64)
        if isinstance(shown, str) and shown.startswith("<"):
            return shown
    return values.placeholder(ghost.type_name)


class Mirror:
    """A copy of plain containers whose str() is the original's, with every
    object we only hold as a ghost replaced by its placeholder."""

    def __init__(self, chars: int) -> None:
        self.left = chars
        self.active: set[int] = set()

    def mirror(self, value: Any, depth: int) -> Any:
        self.left -= 1
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > 10_000:
                return Shown(values.int_text(value))
            self.left -= 4
            return value
        if isinstance(value, (str, bytes, bytearray)):
            if len(value) > max(16, self.left):
                if isinstance(value, str):
                    return values.shorten_text(value, max(16, self.left))
                return Shown(values.show_bytes(value))
            self.left -= len(value)
            return value
        if isinstance(value, _PLAIN) or isinstance(value, dt.timezone):
            self.left -= 16
            return value
        if self.left <= 0 or depth >= MAX_DEPTH:
            return Shown(TRUNCATED)
        if isinstance(value, GhostClass) and value.ghost_origin is None:
            return Shown(f"<class '{value.qualified_name}'>")
        ghost = as_ghost(value)
        if ghost is not None:
            return Shown(ghost_placeholder(ghost))
        if not isinstance(value, (dict, list, tuple, set, frozenset)):
            return Shown(values.placeholder(type(value).__name__))
        key = id(value)
        if key in self.active:
            return Shown("{...}" if isinstance(value, dict) else "[...]")
        self.active.add(key)
        try:
            if isinstance(value, dict):
                items = []
                for index, (k, v) in enumerate(value.items()):
                    if index >= values.MAX_ITEMS or self.left <= 0:
                        items.append((Shown(TRUNCATED), Shown(f"{len(value) - index:,} more")))
                        break
                    items.append((self.mirror(k, depth + 1), self.mirror(v, depth + 1)))
                return OrderedDict(items) if isinstance(value, OrderedDict) else dict(items)
            out = []
            for index, item in enumerate(value):
                if index >= values.MAX_ITEMS or self.left <= 0:
                    out.append(Shown(f"{TRUNCATED} {len(value) - index:,} more"))
                    break
                out.append(self.mirror(item, depth + 1))
            if isinstance(value, list):
                return out
            if isinstance(value, tuple):
                return tuple(out)
            try:
                return type(value)(out)
            except TypeError:  # an item that cannot be hashed
                return Shown(values.placeholder(type(value).__name__))
        finally:
            self.active.discard(key)
