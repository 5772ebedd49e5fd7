"""Load a pickle without running any of its code.

A pickle is a program: every global it names is imported and called while it
loads. This loader names nothing real. Each global becomes a *ghost class*: an
inert stand-in that records the name, and every call, construction or
``__setstate__`` the pickle performs on it is recorded on a ``Ghost`` instead
of executed. What comes back is a tree of plain Python data (the opcodes build
ints, strings, lists and dicts themselves) with ghosts where objects were.

Only a handful of standard-library constructors whose behaviour is fixed and
bounded (datetimes, sets, ``OrderedDict``...) are real, through wrappers that
check their arguments (``constructors``), because times and containers are
what we need to read.

Because nothing is resolved by name, no list of cloudpickle's private helpers
is needed: whatever names a cloudpickle version uses, they all become ghosts.
"""

from __future__ import annotations

import io
import pickle
import threading
from collections.abc import Callable
from typing import Any

from .constructors import REAL as _REAL
from .constructors import UnsafePickleError

__all__ = ["Ghost", "GhostClass", "UnsafePickleError", "as_ghost", "loads"]

# A hostile pickle could name endlessly many distinct globals; cap both the
# per-load count and the shared cache of ghost classes.
MAX_GLOBALS_PER_LOAD = 10_000
_CLASS_CACHE_LIMIT = 4096


class GhostClass(type):
    """Metaclass of the stand-ins for globals named by a pickle.

    A ghost class must be a real ``type``: the NEWOBJ opcode refuses anything
    else. Calling one (REDUCE, NEWOBJ) only records the call on a ``Ghost``;
    the call goes through ``type.__call__`` straight to ``_GhostClassBase.__new__``.
    """

    ghost_module: str
    ghost_name: str
    # On classes that a *call* produced: the record of that call.
    ghost_origin: Ghost | None

    def __setitem__(cls, key: Any, value: Any) -> None:
        _origin(cls).__setitem__(key, value)

    def __repr__(cls) -> str:
        return f"<ghost class {cls.qualified_name}>"

    @property
    def qualified_name(cls) -> str:
        return f"{cls.ghost_module}.{cls.ghost_name}" if cls.ghost_module else cls.ghost_name


class _ClassModeGhostClass(GhostClass):
    """Ghost classes of a load in class mode: calling one makes a class."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _class_from_call(cls, args, kwargs)


class _ClassMakerGhostClass(GhostClass):
    """A global whose name says it makes classes, in a load that makes
    classes of those calls only: calling it makes a class whose own calls
    record ghosts, as a plain global's do."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _class_from_call(cls, args, kwargs, GhostClass)


def _origin(cls: GhostClass) -> Ghost:
    origin = cls.ghost_origin
    if origin is None:
        raise UnsafePickleError(f"state given to the global {cls.qualified_name}")
    return origin


class _OnOrigin:
    """A method looked up on a ghost *class*: the unpickler looks up
    ``__setstate__``/``append``/``extend`` on whatever object it holds, and in
    class mode that object may be a class made by a call; act on the record
    of that call (and refuse for a plain global)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type) -> Callable[..., None]:
        if not isinstance(owner, GhostClass):
            raise AttributeError(self.name)
        return getattr(_origin(owner), self.name)  # type: ignore[no-any-return]


class _GhostClassBase:
    """Base of every ghost class. Never instantiated: constructing a ghost
    class gives a ``Ghost`` recording the call."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        ghost = _new_ghost(Ghost)
        ghost.ghost_class = cls
        if args:
            ghost.args = args
        if kwargs:
            ghost.kwargs = kwargs
        return ghost

    __setstate__ = _OnOrigin("__setstate__")
    append = _OnOrigin("append")
    extend = _OnOrigin("extend")


class Ghost:
    """What the pickle said about one object: its class or callee, the
    arguments, the state given to ``__setstate__`` and the items appended.

    Unset fields fall back to these class-level defaults: a ghost is made
    for every object in a pickle, and setting two fields is cheaper than seven.
    """

    ghost_class: GhostClass | None = None
    callee: Any = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    state: Any = None
    items: list[Any] | None = None
    dict_items: list[tuple[Any, Any]] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # A ghost being called is a factory the pickle obtained by an earlier
        # call (cloudpickle's ``_builtin_type('CodeType')`` for instance).
        if getattr(_CURRENT, "class_mode", False):
            return _class_from_call(self, args, kwargs)
        ghost = _new_ghost(Ghost)
        ghost.callee = self
        if args:
            ghost.args = args
        if kwargs:
            ghost.kwargs = kwargs
        return ghost

    def __setstate__(self, state: Any) -> None:
        self.state = state

    # APPEND/APPENDS/SETITEM(S) on a non-list/dict object call these.
    def append(self, value: Any) -> None:
        if self.items is None:
            self.items = []
        self.items.append(value)

    def extend(self, values: Any) -> None:
        for value in values:
            self.append(value)

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.dict_items is None:
            self.dict_items = []
        self.dict_items.append((key, value))

    def __reduce__(self) -> Any:
        raise TypeError("ghosts are not picklable")

    def __repr__(self) -> str:
        return f"<ghost {self.type_name}>"

    @property
    def type_name(self) -> str:
        """The best name for what this object was: its class, or what made it."""
        if self.ghost_class is not None:
            # Reconstructors take the class they rebuild as their first
            # argument (copyreg._reconstructor, numpy's _reconstruct...).
            if self.args and isinstance(self.args[0], GhostClass):
                return self.args[0].qualified_name
            return self.ghost_class.qualified_name
        callee = self.callee
        if isinstance(callee, Ghost):
            return f"{callee.type_name}()"
        return "object"

    @property
    def state_dict(self) -> dict[Any, Any]:
        """The object's attributes when the pickle gave them as a dict."""
        state = self.state
        if isinstance(state, dict):
            return state
        # (dict_state, slot_state), the form used by objects with __slots__.
        if isinstance(state, tuple) and len(state) == 2:
            merged: dict[Any, Any] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            return merged
        return {}


_new_ghost = object.__new__


def as_ghost(value: Any) -> Ghost | None:
    """The record behind ``value`` if it stands for an object, else None."""
    if isinstance(value, Ghost):
        return value
    if isinstance(value, GhostClass):
        return value.ghost_origin
    return None


def _new_ghost_class(
    module: str, name: str, origin: Ghost | None = None, meta: type[GhostClass] = GhostClass
) -> GhostClass:
    namespace = {
        "__slots__": (),
        "ghost_module": module,
        "ghost_name": name,
        "ghost_origin": origin,
    }
    return meta(name, (_GhostClassBase,), namespace)


def _class_from_call(
    callee: Ghost | GhostClass,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    meta: type[GhostClass] = _ClassModeGhostClass,
) -> GhostClass:
    """A call whose result may be used as a class (NEWOBJ needs a type)."""
    origin = _new_ghost(Ghost)
    if isinstance(callee, GhostClass):
        origin.ghost_class = callee
    else:
        origin.callee = callee
    origin.args = args
    origin.kwargs = kwargs or None
    name = next((a for a in args if isinstance(a, str) and a.isidentifier()), "object")
    module = next(
        (
            a["__module__"]
            for a in args
            if isinstance(a, dict) and isinstance(a.get("__module__"), str)
        ),
        "",
    )
    return _new_ghost_class(module, name, origin, meta)


# Loads by how many calls make classes (NEWOBJ needs a type): none, the
# calls of globals named like class makers, every call.
NO_CALLS, MAKER_CALLS, ALL_CALLS = 0, 1, 2
# cloudpickle's _make_skeleton_class and _make_skeleton_enum, builtins.type,
# types.new_class...: a hint that saves most loads the cost of ALL_CALLS
# (a class per call), not a list to keep up to date; a pickle that needs
# more falls back to ALL_CALLS.
_MAKER_SUFFIXES = ("class", "enum", "type")


def _maker_meta(name: str) -> type[GhostClass]:
    return _ClassMakerGhostClass if name.lower().endswith(_MAKER_SUFFIXES) else GhostClass


class _ClassCache:
    """Ghost classes by (module, name), one cache per mode, bounded: a
    hostile pickle could name endlessly many distinct globals."""

    def __init__(self, meta: Callable[[str], type[GhostClass]]) -> None:
        self.meta = meta
        self.classes: dict[tuple[str, str], Any] = {}

    def get(self, module: str, name: str) -> Any:
        key = (module, name)
        found = self.classes.get(key)
        if found is None:
            if len(self.classes) >= _CLASS_CACHE_LIMIT:
                self.classes = {}
            real = _REAL.get(key)
            found = self.classes[key] = (
                real if real is not None else _new_ghost_class(module, name, meta=self.meta(name))
            )
        return found


# Whether the load in progress on this thread is in class mode: ghosts being
# called (from inside the C unpickler, which gives them no context) need it.
_CURRENT = threading.local()

_CACHES = {
    NO_CALLS: _ClassCache(lambda name: GhostClass),
    MAKER_CALLS: _ClassCache(_maker_meta),
    ALL_CALLS: _ClassCache(lambda name: _ClassModeGhostClass),
}


class _GhostUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, *, calls: int) -> None:
        super().__init__(file, encoding="latin1")
        self.globals_named = 0
        self._classes = _CACHES[calls]

    def find_class(self, module: str, name: str) -> Any:
        # Called for every global the pickle names: kept to a counter and a
        # dictionary lookup, since it runs dozens of times per result.
        self.globals_named += 1
        if self.globals_named > MAX_GLOBALS_PER_LOAD:
            raise UnsafePickleError("too many globals")
        if type(module) is not str or type(name) is not str:
            raise UnsafePickleError("global name is not a string")
        return self._classes.get(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("persistent ids are not supported")


def _load(data: bytes, calls: int) -> Any:
    loader = _GhostUnpickler(io.BytesIO(data), calls=calls)
    previous = getattr(_CURRENT, "class_mode", False)
    # A ghost called (a factory an earlier call made) makes a class only
    # when every call does.
    _CURRENT.class_mode = calls == ALL_CALLS
    try:
        return loader.load()
    finally:
        _CURRENT.class_mode = previous


def loads(data: bytes) -> Any:
    """Load ``data`` into plain values and ghosts; never imports or runs code.

    Raises ``pickle.UnpicklingError`` (or ``EOFError`` for a truncated stream,
    or other ordinary exceptions for malformed ones) when the data is not a
    pickle this loader can follow.
    """
    # Cheap ghosts first; a pickle that defines a class inside itself
    # (cloudpickle does for classes from __main__) needs that call's result
    # to be a type, which costs more, so only then; and a class for every
    # call (about 8 us each) only when naming the class makers did not do.
    for calls in (NO_CALLS, MAKER_CALLS):
        try:
            return _load(data, calls)
        except pickle.UnpicklingError as exc:
            if "must be a type" not in str(exc):
                raise
    return _load(data, ALL_CALLS)
