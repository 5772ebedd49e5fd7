"""Turn values read by ``safepickle`` into bounded JSON.

Plain data (numbers, strings, lists, dicts, None) comes through as itself;
bytes are shown shortened; objects the loader could only record as ghosts
become a short placeholder naming their type, such as
``<numpy.ndarray shape=(1000,) dtype=float64>``. Every conversion has a
budget, so a result that is huge, deeply nested or that refers to itself
(memo references can build cycles and shared subtrees that expand
exponentially) always gives a small document.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import struct
from typing import Any

from .safepickle import Ghost, GhostClass, as_ghost, loads
from .tree import MAX_DEPTH, TRUNCATED, TreeWalk

MAX_STRING = 4096
MAX_BYTES_SHOWN = 32
DEFAULT_BUDGET = 20_000
# Characters of base64 decoded for Covalent's TransportableObjects in one
# conversion (or one document): memo references can repeat one 4 MB object
# thousands of times.
MAX_INNER_PICKLES = 16 * 1024 * 1024

# numpy dtype codes we can decode without numpy, for scalars.
_STRUCT_CODES = {
    "f8": "d",
    "f4": "f",
    "f2": "e",
    "i8": "q",
    "i4": "i",
    "i2": "h",
    "i1": "b",
    "u8": "Q",
    "u4": "I",
    "u2": "H",
    "u1": "B",
    "b1": "?",
}
_DTYPE_NAMES = {
    "f8": "float64",
    "f4": "float32",
    "f2": "float16",
    "i8": "int64",
    "i4": "int32",
    "i2": "int16",
    "i1": "int8",
    "u8": "uint64",
    "u4": "uint32",
    "u2": "uint16",
    "u1": "uint8",
    "b1": "bool",
    "c16": "complex128",
    "c8": "complex64",
}


def shorten_text(text: str, limit: int = MAX_STRING) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}{TRUNCATED} [{len(text):,} characters]"


def int_text(value: int) -> str:
    """``value`` in decimal, shortened; str() refuses ints of over 4300 digits."""
    try:
        return shorten_text(str(value), 64)
    except ValueError:
        return f"<int of {value.bit_length():,} bits>"


def show_bytes(data: bytes | bytearray) -> str:
    shown = repr(bytes(data[:MAX_BYTES_SHOWN]))
    if len(data) <= MAX_BYTES_SHOWN:
        return shown
    return f"{shown[:-1]}{TRUNCATED}{shown[-1]} ({len(data):,} bytes)"


def placeholder(type_name: str, detail: str = "") -> str:
    return f"<{type_name}{' ' + detail if detail else ''}>"


class _Converter(TreeWalk):
    """``to_json``'s walk; its budget is counted in values visited."""

    def __init__(self, budget: int) -> None:
        super().__init__(budget)
        self.inner_left = MAX_INNER_PICKLES

    def visit(self, value: Any, depth: int) -> Any:
        self.left -= 1
        if self.left < 0:
            return TRUNCATED
        if value is None or isinstance(value, (bool, int)):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
                return int_text(value)
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str):
            return shorten_text(value)
        if isinstance(value, (bytes, bytearray)):
            return show_bytes(value)
        if isinstance(value, (dt.datetime, dt.date, dt.time)):
            return value.isoformat()
        if isinstance(value, dt.timedelta):
            return value.total_seconds()
        if isinstance(value, complex):
            return str(value)
        if isinstance(value, GhostClass) and value.ghost_origin is None:
            return placeholder("class " + value.qualified_name)
        ghost = as_ghost(value)
        if ghost is not None:
            return self.ghost(ghost, depth)
        if depth >= MAX_DEPTH:
            return TRUNCATED
        if isinstance(value, dict):
            return self.mapping(value, depth)
        if isinstance(value, (list, tuple, set, frozenset)):
            return self.sequence(value, depth)
        return placeholder(type(value).__name__)

    def visit_key(self, key: Any, depth: int) -> str:
        return key_text(key)

    def ghost(self, ghost: Ghost, depth: int) -> Any:
        name = ghost.type_name
        special = _SPECIAL.get(name)
        # A special ghost is converted through what it holds, which can be
        # nested or hold the ghost itself: bound it like a container.
        if special is not None and depth < MAX_DEPTH:
            try:
                return self.guarded(ghost, depth, lambda g, d: special(self, g, d))
            except (TypeError, ValueError, IndexError, KeyError, struct.error):
                pass  # not the shape we expected: fall back to the placeholder
        return placeholder(name)


def key_text(key: Any) -> str:
    """A dict key as a JSON object key."""
    if isinstance(key, str):
        return shorten_text(key, 256)
    if isinstance(key, int) and not isinstance(key, bool):
        return int_text(key)
    if key is None or isinstance(key, (bool, float)):
        return str(key)
    ghost = as_ghost(key)
    if ghost is not None:
        return placeholder(ghost.type_name)
    try:
        return shorten_text(repr(key), 256)
    except (ValueError, RecursionError):
        # A tuple holding a huge int, or nested too deeply to show.
        return placeholder(type(key).__name__)


# ---- a few well-known types, decoded from their recorded construction ----


def _dtype_code(dtype: Any) -> tuple[str, str]:
    ghost = as_ghost(dtype)
    if ghost is None or not ghost.args or not isinstance(ghost.args[0], str):
        raise ValueError("not a dtype")
    code = ghost.args[0]
    state = ghost.state
    order = state[1] if isinstance(state, tuple) and len(state) > 1 else "<"
    return code, ("<" if order in ("<", "|", "=") else ">")


def _numpy_array(conv: _Converter, ghost: Ghost, depth: int) -> str:
    if ghost.type_name == "numpy.ndarray":
        # Older numpy: _reconstruct(ndarray, ...) then state
        # (version, shape, dtype, is_fortran, data).
        _version, shape, dtype, _fortran, _data = ghost.state
    else:
        # numpy >= 1.25: _frombuffer(buffer, dtype, shape, order).
        _buffer, dtype, shape, _order = ghost.args
    code, _ = _dtype_code(dtype)
    dims = tuple(int(n) for n in shape)
    detail = f"shape={dims!r} dtype={_DTYPE_NAMES.get(code, code)}"
    return placeholder("numpy.ndarray", detail)


def _numpy_scalar(conv: _Converter, ghost: Ghost, depth: int) -> Any:
    dtype, raw = ghost.args[:2]
    code, order = _dtype_code(dtype)
    fmt = _STRUCT_CODES.get(code)
    if fmt is None or not isinstance(raw, (bytes, bytearray)):
        return placeholder(f"numpy.{_DTYPE_NAMES.get(code, code)}")
    return conv.visit(struct.unpack(order + fmt, raw)[0], depth)


def _transportable(conv: _Converter, ghost: Ghost, depth: int) -> Any:
    # Covalent wraps values as base64 of their own cloudpickle.
    encoded = ghost.state_dict.get("_object")
    if not isinstance(encoded, str) or len(encoded) > 4 * 1024 * 1024 or depth > 4:
        raise ValueError("no object")
    if len(encoded) > conv.inner_left:
        raise ValueError("inner pickles over budget")
    conv.inner_left -= len(encoded)
    return conv.visit(load_embedded(encoded), depth + 1)


def load_embedded(encoded: str) -> Any:
    """What a pickle embedded as base64 text holds (Covalent wraps values and
    functions so), loaded by ``safepickle``; ValueError if it cannot be."""
    try:
        return loads(base64.b64decode(encoded, validate=True))
    except Exception:  # noqa: BLE001 - any failure means "cannot show it"
        raise ValueError("unreadable object") from None


def _ordered_dict_like(conv: _Converter, ghost: Ghost, depth: int) -> Any:
    return conv.mapping(dict(ghost.dict_items or ()), depth)


_SPECIAL = {
    "numpy._core.numeric._frombuffer": _numpy_array,
    "numpy.core.numeric._frombuffer": _numpy_array,
    "numpy.ndarray": _numpy_array,
    "numpy._core.multiarray.scalar": _numpy_scalar,
    "numpy.core.multiarray.scalar": _numpy_scalar,
    "covalent._workflow.transport.TransportableObject": _transportable,
    # Renamed in 0.220 (docs/covalent-generations.md); the state keeps `_object`.
    "covalent._workflow.transportable_object.TransportableObject": _transportable,
    "collections.defaultdict": _ordered_dict_like,
}


def to_json(value: Any, budget: int = DEFAULT_BUDGET) -> Any:
    """``value`` as JSON-ready data, bounded by ``budget`` values visited."""
    return _Converter(budget).visit(value, 0)
