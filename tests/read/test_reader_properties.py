"""Property tests: whatever bytes result.pkl holds, reading it is safe.

(a) real pickles (and a few hostile ones) with a few bytes flipped, inserted
or deleted; (b) streams of random opcodes with well-formed arguments, alone
or as a value inside a Result-shaped pickle. Neither may raise out of
``read_dispatch``, give a record that cannot be stored as JSON, or run
anything (a canary file must never appear).

Inputs that store into the memo at an index near 2**32 are skipped: CPython's
C unpickler allocates a memo table that large, a known gap left to the
planned worker process with RLIMIT_AS (see read/test_safety.py).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import pickle
import pickletools
import shlex
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from dispatch_indexer.read import safepickle, values
from dispatch_indexer.read.reader import RESULT_FILE, ReadOutcome, read_dispatch
from tests.read.test_safety import (
    FAR_FUTURE,
    RESULT,
    Named,
    Obj,
    Reduce,
    binunicode,
    dumps,
    huge_memo_index,
    result_pickle,
    transportable,
)

from ..realdata import FIXTURES

LATTICE = Named("covalent._workflow.lattice", "Lattice")
GRAPH = Named("covalent._workflow.transport", "_TransportGraph")

# The autouse ``home`` fixture only points environment variables into
# tmp_path; sharing it between the examples of one test is harmless.
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What loading a malformed pickle may raise (``safepickle.loads`` documents
# UnpicklingError, EOFError and "other ordinary exceptions").
LOAD_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    MemoryError,
)


class Place:
    """One dispatch folder, rewritten by every example."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "results" / "example"
        self.folder.mkdir(parents=True)
        self.canary = root / "canary"
        self.command = f"touch {shlex.quote(str(self.canary))}"

    def read(self, data: bytes) -> ReadOutcome:
        (self.folder / RESULT_FILE).write_bytes(data)
        outcome = read_dispatch(self.folder, now=FAR_FUTURE)
        assert not self.canary.exists(), "a payload ran"
        assert outcome.transient is False
        reason = outcome.record.unreadable
        if reason is not None:
            assert reason.strip() and "\n" not in reason, reason
            # The reader's last resort for errors nobody foresaw: a bug here.
            assert "holds a Result that cannot be read" not in reason, reason
        # What the store would write: plain, small JSON.
        assert len(json.dumps(outcome.record.to_json())) < 2_000_000
        if reason is None:
            event("read as a Result")
        else:
            event("not a Result" if "not a Covalent Result" in reason else reason.split(":")[0])
        return outcome


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Place:
    return Place(tmp_path_factory.mktemp("properties"))


# ---- (a) mutations of real and hostile pickles ------------------------------


def _seeds(place: Place) -> list[bytes]:
    small = [
        p.read_bytes()
        for p in sorted(FIXTURES.glob("**/result.pkl"))
        if p.stat().st_size < 64 * 1024
    ]
    payload = Reduce(os.system, place.command)
    hostile = [pickle.dumps(payload, protocol=p) for p in (0, 2, 5)]
    inner = pickle.dumps(payload, protocol=5)
    hostile.append(result_pickle("seed", 5, _result=transportable(inner), _error=payload))
    return small + hostile


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif data:
            del data[at : at + draw(st.integers(1, 4))]
    return bytes(data)


@pytest.fixture(scope="module")
def mutations(place: Place) -> st.SearchStrategy[bytes]:
    return mutated(_seeds(place))


@SETTINGS
@given(draw=st.data())
def test_mutated_pickles_are_read_safely(
    place: Place, mutations: st.SearchStrategy[bytes], draw: st.DataObject
) -> None:
    data = draw.draw(mutations)
    assume(not huge_memo_index(data))
    try:
        loaded = safepickle.loads(data)
    except LOAD_ERRORS:
        pass
    else:
        converted = values.to_json(loaded)
        assert len(json.dumps(converted)) < 2_000_000
    assert not place.canary.exists()
    place.read(data)


# ---- (b) streams of random opcodes ------------------------------------------

GLOBALS = [
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("__builtin__", "eval"),
    ("builtins", "__import__"),
    ("builtins", "getattr"),
    ("builtins", "open"),
    ("subprocess", "call"),
    ("antigravity", "fly"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "complex"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("datetime", "datetime"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("datetime", "date"),
    ("copyreg", "_reconstructor"),
    ("covalent._results_manager.result", "Result"),
    ("covalent._workflow.transport", "TransportableObject"),
    ("covalent._shared_files.util_classes", "Status"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "dtype"),
    ("numpy._core.numeric", "_frombuffer"),
    ("cloudpickle.cloudpickle", "_builtin_type"),
]
KEYS = [
    "_dispatch_id",
    "_status",
    "_result",
    "_start_time",
    "_end_time",
    "_error",
    "_num_nodes",
    "_lattice",
    "_results_dir",
    "STATUS",
    "_object",
    "__defaults__",
    "__setstate__",
    "__dict__",
    "latin1",
    "utf-8",
    "COMPLETED",
    "",
]


def _texts(place: Place) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([*KEYS, place.command, f"__import__('os').system({place.command!r})"]),
        st.text(max_size=8),
    )


def _ints(huge: bool = False) -> st.SearchStrategy[int]:
    """``huge``: also an int too long for str() (only LONG4 can carry one)."""
    edges = [2**31 - 1, -(2**31), 2**63, -(2**63) - 1, 2**61 - 1, 0]
    ints = [st.integers(-300, 300), st.integers(-(2**70), 2**70), st.sampled_from(edges)]
    if huge:  # built, not listed: hypothesis would repr() it, and str() refuses it
        ints.append(st.builds(pow, st.just(7), st.just(6000)))
    return st.one_of(ints)


def _counted(size: int, data: bytes) -> bytes:
    return len(data).to_bytes(size, "little") + data


@st.composite
def opcode(draw: st.DrawFn, place: Place) -> bytes:
    op = draw(st.sampled_from(pickletools.opcodes))
    code = op.code.encode("latin-1")
    kind = op.arg.name if op.arg is not None else None
    text = _texts(place)
    if kind is None:
        return code
    if op.name in ("PUT", "GET"):  # small memo indexes only: see the docstring
        return code + b"%d\n" % draw(st.integers(0, 20))
    if op.name in ("BINPUT", "BINGET", "LONG_BINPUT", "LONG_BINGET"):
        return code + draw(st.integers(0, 20)).to_bytes(op.arg.n, "little")
    if op.name == "PROTO":
        return code + bytes([draw(st.integers(0, 6))])
    if op.name == "FRAME":
        return code + draw(st.integers(0, 64)).to_bytes(8, "little")
    if kind in ("uint1", "uint2", "uint4", "uint8"):
        return code + draw(st.integers(0, 2 ** (8 * op.arg.n) - 1)).to_bytes(op.arg.n, "little")
    if kind == "int4":
        return code + draw(st.integers(-(2**31), 2**31 - 1)).to_bytes(4, "little", signed=True)
    if kind == "decimalnl_short":
        return code + draw(st.sampled_from([b"00", b"01", b"%d" % draw(_ints())])) + b"\n"
    if kind == "decimalnl_long":
        return code + b"%dL\n" % draw(_ints())
    if kind == "floatnl":
        return code + repr(draw(st.floats())).encode() + b"\n"
    if kind == "float8":
        return code + struct.pack(">d", draw(st.floats()))
    if kind in ("long1", "long4"):
        raw = pickle.encode_long(draw(_ints(huge=kind == "long4")))
        return code + _counted(1 if kind == "long1" else 4, raw)
    if kind == "stringnl_noescape_pair":
        module, name = draw(st.sampled_from(GLOBALS))
        return code + f"{module}\n{name}\n".encode()
    value = draw(text)
    if kind == "stringnl":
        return code + repr(value.encode("utf-8")).lstrip("b").encode() + b"\n"
    if kind == "stringnl_noescape":
        return code + value.encode("ascii", "replace").replace(b"\n", b" ") + b"\n"
    if kind == "unicodestringnl":
        return code + value.encode("raw-unicode-escape").replace(b"\n", b"\\u000a") + b"\n"
    sizes = {
        "string1": 1,
        "bytes1": 1,
        "unicodestring1": 1,
        "string4": 4,
        "bytes4": 4,
        "unicodestring4": 4,
        "bytes8": 8,
        "bytearray8": 8,
        "unicodestring8": 8,
    }
    return code + _counted(sizes[kind], value.encode())


@st.composite
def opcode_stream(draw: st.DrawFn, place: Place) -> bytes:
    # Short streams: a tuple of tuples sharing memo references is hashed in
    # C with no bound (see read/test_safety.py); 40 opcodes keep that to 2**20.
    if draw(st.booleans()):
        # As the value of one attribute of a Result, to reach interpret():
        # a few opcodes, so that they often push exactly one value.
        ops = draw(st.lists(opcode(place), min_size=1, max_size=6))
        key = draw(st.sampled_from(KEYS[:9]))
        return (
            b"\x80\x02ccovalent._results_manager.result\nResult\n)\x81}("
            + binunicode("_dispatch_id")
            + binunicode("generated")
            + binunicode(key)
            + b"".join(ops)
            + b"ub."
        )
    ops = draw(st.lists(opcode(place), max_size=40))
    proto = draw(st.sampled_from([b"", b"\x80\x02", b"\x80\x04", b"\x80\x05"]))
    return proto + b"".join(ops) + draw(st.sampled_from([b".", b""]))


@pytest.fixture(scope="module")
def streams(place: Place) -> st.SearchStrategy[bytes]:
    return opcode_stream(place)


@SETTINGS
@given(data=st.data())
def test_random_opcode_streams_are_read_safely(
    place: Place, streams: st.SearchStrategy[bytes], data: st.DataObject
) -> None:
    stream = data.draw(streams)
    assert not huge_memo_index(stream)
    place.read(stream)


# ---- (c) well-formed Results holding arbitrary values -----------------------

_OFFSETS = st.timedeltas(
    min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
)
_TIMEZONES = st.one_of(st.none(), st.builds(dt.timezone, _OFFSETS))
_HASHABLE = st.one_of(st.none(), st.booleans(), _ints(huge=True), st.floats(), st.text(max_size=8))
# The ends of the datetime range, where converting to UTC overflows.
_EDGE_TIMES = st.builds(
    lambda when, offset: when.replace(tzinfo=dt.timezone(offset)),
    st.sampled_from([dt.datetime.min, dt.datetime.max]),
    _OFFSETS,
)
_LEAVES = st.one_of(
    _HASHABLE,
    st.binary(max_size=16),
    st.datetimes(timezones=_TIMEZONES),
    _EDGE_TIMES,
    st.dates(),
    st.times(timezones=_TIMEZONES),
    st.timedeltas(),
    st.complex_numbers(),
    st.builds(bytearray, st.binary(max_size=8)),
)


def _ghost(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Only globals that load as ghosts: the real constructors (set, datetime...)
    # would refuse arbitrary arguments and state, as pickle.loads would.
    named = st.sampled_from([Named(*g) for g in GLOBALS if g not in safepickle._REAL])
    return st.one_of(
        st.builds(Obj, named, st.dictionaries(st.sampled_from(KEYS), children, max_size=3)),
        st.builds(lambda f, args: Reduce(f, *args), named, st.lists(children, max_size=2)),
    )


_VALUES = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.one_of(_HASHABLE, st.tuples(_HASHABLE)), children, max_size=4),
        st.frozensets(_HASHABLE, max_size=3),
        st.builds(collections.OrderedDict, st.dictionaries(st.text(max_size=3), children)),
        _ghost(children),
    ),
    max_leaves=12,
)


# Times as Covalent stores them, or anything else.
_TIMES = st.one_of(st.none(), st.datetimes(timezones=_TIMEZONES), _EDGE_TIMES, _VALUES)


@st.composite
def results(draw: st.DrawFn) -> bytes:
    # With a _dispatch_id (of any type) the reader takes it for a Result.
    state: dict[str, Any] = {"_dispatch_id": "generated"}
    for key in ("_start_time", "_end_time"):
        state[key] = draw(_TIMES)
    state.update(draw(st.dictionaries(st.sampled_from(KEYS[:9]), _VALUES, max_size=4)))
    if draw(st.booleans()):
        # A lattice whose transport graph has nodes with arbitrary attributes.
        node_attrs = st.fixed_dictionaries(
            {"start_time": _TIMES, "end_time": _TIMES},
            optional={"name": _VALUES, "status": _VALUES, "error": _VALUES},
        )
        graph = Obj(
            Named("networkx.classes.multidigraph", "MultiDiGraph"),
            {"_node": draw(st.dictionaries(_HASHABLE, node_attrs, max_size=3))},
        )
        lattice_state = {
            "__name__": draw(_VALUES),
            "transport_graph": Obj(GRAPH, {"_graph": graph}),
        }
        state["_lattice"] = Obj(LATTICE, lattice_state)
    protocol = draw(st.integers(0, pickle.HIGHEST_PROTOCOL))
    try:
        return dumps(Obj(RESULT, state), protocol)
    except ValueError:  # protocols 0 and 1 write ints in decimal: not a huge one
        return dumps(Obj(RESULT, state), 2)


@SETTINGS
@given(data=results())
def test_results_with_arbitrary_values_are_read(place: Place, data: bytes) -> None:
    outcome = place.read(data)
    # Well-formed: always read, whatever the values.
    assert outcome.ok, outcome.record.unreadable
    record = outcome.record
    for when in [record.start_time, record.end_time, *(n.start_time for n in record.nodes)]:
        assert when is None or when.tzinfo is dt.timezone.utc
    assert record.num_nodes is None or -(2**63) <= record.num_nodes < 2**63
