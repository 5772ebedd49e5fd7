"""The few real objects a pickle loaded by ``safepickle`` can build.

Everything else a pickle names becomes a ghost; these are real because times
and containers are what we need to read, and their behaviour is fixed and
bounded: the datetime types validate their own arguments, and the others are
reached through wrappers that check theirs (``bytearray(n)`` would allocate
``n`` bytes from four bytes of pickle).
"""

from __future__ import annotations

import collections
import datetime as _dt
import pickle
from collections.abc import Callable
from typing import Any


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for something this loader refuses to do."""


def _checked_set(items: Any = ()) -> set[Any]:
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise UnsafePickleError("set() from a non-sequence")
    return set(items)


def _checked_frozenset(items: Any = ()) -> frozenset[Any]:
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise UnsafePickleError("frozenset() from a non-sequence")
    return frozenset(items)


def _checked_bytearray(data: Any = b"", encoding: Any = None) -> bytearray:
    # bytearray(n) would allocate n bytes from a four-byte integer.
    if isinstance(data, (bytes, bytearray)):
        return bytearray(data)
    if isinstance(data, str) and isinstance(encoding, str):
        return bytearray(data, encoding)
    raise UnsafePickleError("bytearray() from something other than bytes")


def _checked_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # Protocol 2 writes bytes as _codecs.encode(str, 'latin1').
    if isinstance(text, str) and encoding in ("latin1", "latin-1", "utf-8", "ascii"):
        return text.encode(encoding)
    raise UnsafePickleError("_codecs.encode with unexpected arguments")


def _checked_complex(real: Any = 0.0, imag: Any = 0.0) -> complex:
    if isinstance(real, (int, float)) and isinstance(imag, (int, float)):
        return complex(real, imag)
    raise UnsafePickleError("complex() from non-numbers")


def _checked_ordered_dict(items: Any = ()) -> collections.OrderedDict[Any, Any]:
    if not isinstance(items, (list, tuple)):
        raise UnsafePickleError("OrderedDict() from a non-sequence")
    return collections.OrderedDict(items)


class _Constructor:
    """One of the checked constructors, as a pickle gets it: callable, and
    nothing else. Handed out bare, a function would let BUILD set its
    ``__defaults__`` or ``__dict__``, changing how every later pickle loads."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError(f"state given to the constructor {self.func.__name__}")


# The datetime constructors validate and bound their own arguments (and are
# immutable types, so BUILD cannot change them).
REAL: dict[tuple[str, str], Callable[..., Any]] = {
    ("datetime", "datetime"): _dt.datetime,
    ("datetime", "date"): _dt.date,
    ("datetime", "time"): _dt.time,
    ("datetime", "timedelta"): _dt.timedelta,
    ("datetime", "timezone"): _dt.timezone,
    ("builtins", "set"): _Constructor(_checked_set),
    ("builtins", "frozenset"): _Constructor(_checked_frozenset),
    ("builtins", "bytearray"): _Constructor(_checked_bytearray),
    ("builtins", "complex"): _Constructor(_checked_complex),
    ("__builtin__", "set"): _Constructor(_checked_set),
    ("__builtin__", "frozenset"): _Constructor(_checked_frozenset),
    ("__builtin__", "bytearray"): _Constructor(_checked_bytearray),
    ("_codecs", "encode"): _Constructor(_checked_encode),
    ("collections", "OrderedDict"): _Constructor(_checked_ordered_dict),
}
