"""Covalent's UI document, built without running the pickle, against the
documents Covalent 0.110 itself wrote (``covalent_result_dict/``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from dispatch_indexer.read.document import MAX_DOCUMENT_BYTES, build_document
from dispatch_indexer.read.reader import read_dispatch
from dispatch_indexer.read.safepickle import loads

from ..realdata import CUSTOM, FIXTURES, HEAVY, NUMERIC

ANY = "*"
# The folder the dispatch is in now (an existing directory), where Covalent
# wrote the one it ran in, which is gone since the fixtures were moved.
WHERE_NOW = object()

# The only places where our document may differ from Covalent's: there
# Covalent wrote what only a live object can say, and ours holds a short
# placeholder naming the type. (fixture, path) -> our exact value; ANY in a
# path matches every node, ANY as the fixture every fixture.
ALLOWED: dict[tuple[str, tuple[Any, ...]], Any] = {
    # Covalent fills in an executor named "dask" from its own running
    # plugin (its config: log files, cache dir, scheduler address...), which
    # result.pkl does not hold: a dict of what is known, as its UI lists it.
    (ANY, ("lattice", "metadata", "executor")): {"name": "dask"},
    (ANY, ("graph", "nodes", ANY, "metadata", "executor")): {"name": "dask"},
    (ANY, ("results_dir",)): WHERE_NOW,
    (ANY, ("lattice", "metadata", "results_dir")): WHERE_NOW,
    # str() of a numpy array.
    (NUMERIC, ("result",)): "<numpy.ndarray shape=(1000,) dtype=float64>",
    (NUMERIC, ("graph", "nodes", 0, "output")): "<numpy.ndarray shape=(1000,) dtype=float64>",
    # str() of an instance of the workflow's own class (its __repr__).
    (CUSTOM, ("result",)): "<__main__.Measurement>",
    (CUSTOM, ("graph", "nodes", 0, "output")): "<__main__.Measurement>",
}


def _documents() -> list[Any]:
    return [
        pytest.param(path, id=path.stem[:13])
        for path in sorted((FIXTURES / "covalent_result_dict").glob("*.json"))
    ]


def _folder(name: str) -> Path:
    """The dispatch folder a Covalent document was made from."""
    if name.endswith("-snapshot"):
        return FIXTURES / "snapshots/running" / name.removesuffix("-snapshot")
    found = [p for p in FIXTURES.glob(f"results*/**/{name}") if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def _allowed(fixture: str, path: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]] | None:
    for key in ALLOWED:
        where, pattern = key
        if where not in (ANY, fixture) or len(pattern) != len(path):
            continue
        if all(p == ANY or p == q for p, q in zip(pattern, path, strict=True)):
            return key
    return None


def _compare(
    ours: Any, theirs: Any, fixture: str, path: tuple[Any, ...], used: set[Any]
) -> list[str]:
    """Every difference, field by field, that the allow-list does not cover."""
    allowed = _allowed(fixture, path)
    if allowed is not None:
        used.add(allowed)
        if ALLOWED[allowed] is WHERE_NOW:
            if isinstance(ours, str) and os.path.isdir(ours) and ours != theirs:
                return []
            return [f"{path}: {ours!r} is not where the folder is now"]
        if ours != ALLOWED[allowed]:
            return [f"{path}: placeholder {ours!r}, expected {ALLOWED[allowed]!r}"]
        return []
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: {ours!r} is not an object"]
        problems = []
        if list(ours) != list(theirs):
            problems.append(f"{path}: keys {list(ours)} != {list(theirs)}")
        for key in theirs:
            if key in ours:
                problems += _compare(ours[key], theirs[key], fixture, (*path, key), used)
        return problems
    if isinstance(theirs, list):
        if not isinstance(ours, list) or len(ours) != len(theirs):
            return [f"{path}: {ours!r} != {theirs!r}"]
        problems = []
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            problems += _compare(mine, other, fixture, (*path, index), used)
        return problems
    if type(ours) is not type(theirs) or ours != theirs:
        return [f"{path}: {ours!r} != {theirs!r}"]
    return []


@pytest.mark.parametrize("covalent_json", _documents())
def test_document_matches_covalents_own(covalent_json: Path) -> None:
    theirs = json.loads(covalent_json.read_text())
    outcome = read_dispatch(_folder(covalent_json.stem))
    assert outcome.ok
    ours = outcome.document
    assert ours is not None
    used: set[Any] = set()
    assert _compare(ours, theirs, theirs["dispatch_id"], (), used) == []
    # What is stored is JSON text: it must come back the same.
    assert json.loads(json.dumps(ours, allow_nan=False)) == ours


def test_every_allowed_difference_is_needed() -> None:
    used: set[Any] = set()
    for param in _documents():
        (path,) = param.values
        theirs = json.loads(path.read_text())
        folder = _folder(path.stem)
        ours = build_document(loads((folder / "result.pkl").read_bytes()), str(folder.parent))
        _compare(ours, theirs, theirs["dispatch_id"], (), used)
    assert used == set(ALLOWED)


def test_the_document_stays_out_of_the_record() -> None:
    outcome = read_dispatch(FIXTURES / "results" / CUSTOM)
    assert outcome.document is not None
    assert "document" not in outcome.record.to_json()
    assert "document" not in outcome.record.list_json()


def test_a_huge_result_gives_a_small_document() -> None:
    outcome = read_dispatch(FIXTURES / "results" / HEAVY)
    document = outcome.document
    assert document is not None
    size = len(json.dumps(document).encode())
    assert size < 20_000  # a 3 MB result
    # The bytes are shortened with a marker and their length.
    assert document["result"].startswith("b'\\x00\\x00")
    assert "…" in document["result"] and "(3,000,000 bytes)" in document["result"]
    big = document["graph"]["nodes"][0]
    assert big["output"] == document["result"]
    assert document["status"] == "COMPLETED" and document["lattice"]["name"] == "heavy"


# ---- synthetic Results: values the fixtures do not have ------------------
# Pickled by reference to this module; safepickle only records the names.


class Status:
    def __init__(self, text: str) -> None:
        self.STATUS = text


class Graph:
    def __init__(self, nodes: dict[Any, dict[str, Any]], edges: list[tuple[Any, Any]]) -> None:
        self._node = nodes
        self._adj: dict[Any, dict[Any, Any]] = {n: {} for n in nodes}
        for source, target in edges:
            self._adj[source][target] = {0: {"edge_name": "x", "param_type": "arg"}}


class TransportGraph:
    def __init__(self, graph: Graph) -> None:
        self._graph = graph


class Lattice:
    def __init__(self, source: str, args: list[Any], kwargs: dict[str, Any], graph: Graph):
        self.workflow_function_string = source
        self.metadata = {"executor": "local", "results_dir": "/r"}
        self.__name__ = "wf"
        self.args = args
        self.kwargs = kwargs
        self.__doc__ = "The workflow."
        self.transport_graph = TransportGraph(graph)


class Result:
    def __init__(self, lattice: Lattice, result: Any) -> None:
        self._start_time = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
        self._end_time = None
        self._results_dir = "/r"
        self._lattice = lattice
        self._dispatch_id = "synthetic"
        self._status = Status("COMPLETED")
        self._result = result
        self._inputs = {"args": lattice.args, "kwargs": lattice.kwargs}
        self._error = None
        self._num_nodes = len(lattice.transport_graph._graph._node)


class Opaque:
    """A user's class: its str() is only known to a live process."""


def _node(name: str, output: Any, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "metadata": {"executor": "local"},
        "start_time": None,
        "end_time": None,
        "status": Status("COMPLETED"),
        "output": output,
        "error": None,
        "sublattice_result": None,
        "stdout": None,
        "stderr": None,
        **extra,
    }


def _document(result: Result) -> dict[str, Any]:
    document = build_document(loads(pickle.dumps(result, protocol=4)))
    assert document is not None
    return document


def test_plain_values_are_written_as_covalents_encoder_writes_them() -> None:
    value = {
        "nan": float("nan"),
        "inf": float("-inf"),
        1: (1, 2.5, True),
        None: "none key",
        2.5: "float key",
        "when": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        "day": dt.date(2026, 1, 1),
        "span": dt.timedelta(seconds=90),
        "set": {3},
        "complex": 1 + 2j,
        "bytes": b"caf\xc3\xa9",
        "bad bytes": b"\xff\xfe",
        "opaque": Opaque(),
        "class": Opaque,
    }
    graph = Graph({0: _node("f", value)}, [])
    document = _document(Result(Lattice("def wf():\n    pass\n", [], {}, graph), value))
    assert document["result"] == {
        "nan": None,  # ignore_nan
        "inf": None,
        "1": [1, 2.5, True],
        "null": "none key",
        "2.5": "float key",
        "when": "2026-01-01T00:00:00+00:00",
        "day": "2026-01-01",  # str(), as result_encoder does
        "span": "0:01:30",
        "set": "{3}",
        "complex": "(1+2j)",
        "bytes": "café",  # simplejson decodes bytes as UTF-8
        "bad bytes": "b'\\xff\\xfe'",  # Covalent fails here; we show them
        "opaque": "<tests.read.test_document.Opaque>",
        "class": "<class 'tests.read.test_document.Opaque'>",
    }
    assert document["graph"]["nodes"][0]["output"] == document["result"]
    assert document["start_time"] == "2026-01-02T03:04:05.000006+00:00"
    assert document["lattice"]["doc"] == "The workflow."


def test_inputs_are_named_by_the_signature_as_covalent_names_them() -> None:
    # No pickled function here: the names come from the source, parsed.
    source = "@ct.lattice\ndef wf(a, b=2, *rest, k, **extra):\n    return a\n"
    args = [1, [2, "x"], 3, Opaque()]
    kwargs = {"k": 4.5, "z": {"q": None}}
    graph = Graph({0: _node("f", 1)}, [])
    document = _document(Result(Lattice(source, args, kwargs, graph), 1))
    # get_named_params: positional names, arg[i] for the rest, and (its
    # quirk) each keyword parameter adds the keyword arguments not named
    # like itself; encode_dict then takes str() of each value.
    assert document["lattice"]["inputs"] == {
        "a": "1",
        "b": "[2, 'x']",
        "arg[2]": "3",
        "arg[3]": "<tests.read.test_document.Opaque>",
        "z": "{'q': None}",
        "k": "4.5",
    }


def test_a_huge_graph_gives_a_bounded_document() -> None:
    nodes = {i: _node(f"task{i}", "x" * 3_000, value=list(range(500))) for i in range(4_000)}
    edges = [(i, i + 1) for i in range(3_999)]
    graph = Graph(nodes, edges)
    document = _document(Result(Lattice("def wf():\n    pass\n", [], {}, graph), "y" * 10**6))
    size = len(json.dumps(document, ensure_ascii=False).encode())
    assert size <= MAX_DOCUMENT_BYTES
    shown = document["graph"]["nodes"]
    assert shown and len(shown) + document["graph"].get("nodes_omitted", 0) == 4_000
    assert "…" in document["result"] and "1,000,000 characters" in document["result"]
    ids = {node["id"] for node in shown}
    assert all(
        link["source"] in ids and link["target"] in ids for link in document["graph"]["links"]
    )


def test_what_is_not_a_result_has_no_document() -> None:
    assert build_document(loads(pickle.dumps({"a": 1}))) is None
    assert build_document(loads(pickle.dumps(Opaque()))) is None
