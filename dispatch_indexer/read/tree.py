"""One bounded walk over an untrusted tree of values.

What ``safepickle`` loads is shaped by whoever wrote the file: it can nest a
hundred thousand levels deep, hold itself, or refer to one subtree so many
times (memo references) that expanding it in full would take exponential
time. Every walk over such a tree (``values.to_json``, and the
document's ``render`` and ``mirror``) is a ``TreeWalk``, bounded four ways:

- depth: each walk stops at ``MAX_DEPTH`` (it decides where, in ``visit``);
- cycles: a container met again inside itself is not entered again;
- width: at most ``MAX_ITEMS`` of one container, the rest counted;
- a budget, ``left``, that each visit spends as its walk sees fit (values,
  characters) and that cuts every container short once spent, so a walk
  visits at most about ``left`` values plus one per level it is in.

Time and memory follow from these: nothing is visited twice on one path and
nothing beyond the budget is visited at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

MAX_DEPTH = 32
MAX_ITEMS = 1000
TRUNCATED = "…"


class TreeWalk:
    """The bounds every walk shares. A walk says what one value becomes
    (``visit``, ``visit_key``), sends containers to ``mapping`` and
    ``sequence``, and, if it needs other than these, says what the markers
    for a cut or a cycle are."""

    def __init__(self, left: int) -> None:
        self.left = left
        # The containers (and ghosts) being walked, by id: the path from the
        # top down to the value in hand.
        self.active: set[int] = set()

    # ---- what a walk defines --------------------------------------------

    def visit(self, value: Any, depth: int) -> Any:
        raise NotImplementedError

    def visit_key(self, key: Any, depth: int) -> Any:
        """A dict's key, at its value's ``depth``; visited before the value."""
        raise NotImplementedError

    def cycle(self, value: Any) -> Any:
        return "<cycle>"

    def cut_pair(self, left_out: int) -> tuple[Any, Any]:
        return TRUNCATED, f"{left_out:,} more"

    def cut_item(self, left_out: int) -> Any:
        return f"{TRUNCATED} {left_out:,} more"

    # ---- the walk -------------------------------------------------------
    # The cycle guard is written out in each method rather than shared: these
    # run once per container of every value read, where a call is the cost.

    def mapping(self, value: dict[Any, Any], depth: int) -> Any:
        """A dict's items, as many as the bounds allow, or the cycle marker
        when ``value`` is already being walked (it holds itself)."""
        key = id(value)
        if key in self.active:
            return self.cycle(value)
        self.active.add(key)
        try:
            out: dict[Any, Any] = {}
            for index, (name, item) in enumerate(value.items()):
                if index >= MAX_ITEMS or self.left <= 0:
                    marker, more = self.cut_pair(len(value) - index)
                    out[marker] = more
                    break
                shown = self.visit_key(name, depth + 1)
                out[shown] = self.visit(item, depth + 1)
            return out
        finally:
            self.active.discard(key)

    def sequence(self, value: Collection[Any], depth: int) -> Any:
        """A list's, tuple's or set's items, as many as the bounds allow (a
        list), or the cycle marker when ``value`` is already being walked."""
        key = id(value)
        if key in self.active:
            return self.cycle(value)
        self.active.add(key)
        try:
            out = []
            for index, item in enumerate(value):
                if index >= MAX_ITEMS or self.left <= 0:
                    out.append(self.cut_item(len(value) - index))
                    break
                out.append(self.visit(item, depth + 1))
            return out
        finally:
            self.active.discard(key)

    def guarded(self, value: Any, depth: int, walk: Callable[[Any, int], Any]) -> Any:
        """``walk(value, depth)`` for what is walked through something other
        than its items (a ghost converted through what it holds), or the
        cycle marker when ``value`` is already being walked."""
        key = id(value)
        if key in self.active:
            return self.cycle(value)
        self.active.add(key)
        try:
            return walk(value, depth)
        finally:
            self.active.discard(key)
