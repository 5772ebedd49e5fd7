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
from .tree import MAX_DEPTH, TRUNCATED, TreeWalk

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


class Mirror(TreeWalk):
    """A copy of plain containers whose str() is the original's, with every
    object we only hold as a ghost replaced by its placeholder; its budget
    is about ``chars`` characters of that str()."""

    def visit(self, value: Any, depth: int) -> Any:
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
        # The containers rebuilt as what they were, for their str(); a cycle
        # marker (a Shown) stays as it is.
        if isinstance(value, list):
            return self.sequence(value, depth)
        if isinstance(value, dict):
            out = self.mapping(value, depth)
            if isinstance(value, OrderedDict) and isinstance(out, dict):
                return OrderedDict(out)
            return out
        if isinstance(value, (tuple, set, frozenset)):
            items = self.sequence(value, depth)
            if isinstance(items, Shown):
                return items
            if isinstance(value, tuple):
                return tuple(items)
            try:
                return type(value)(items)
            except TypeError:  # an item that cannot be hashed
                return Shown(values.placeholder(type(value).__name__))
        return Shown(values.placeholder(type(value).__name__))

    # A key is shown like any value (str() of a dict shows its keys' repr).
    visit_key = visit

    def cycle(self, value: Any) -> Shown:
        # What str() itself writes for a container inside itself.
        return Shown("{...}" if isinstance(value, dict) else "[...]")

    def cut_pair(self, left_out: int) -> tuple[Any, Any]:
        return Shown(TRUNCATED), Shown(f"{left_out:,} more")

    def cut_item(self, left_out: int) -> Any:
        return Shown(f"{TRUNCATED} {left_out:,} more")
