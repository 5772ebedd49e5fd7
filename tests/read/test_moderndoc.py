"""Covalent's UI document for a modern server's dispatch: the shape of a
0.110 document, filled from the real 0.240 server's database and data dir."""

from __future__ import annotations

import base64
import datetime as dt
import json
import pickle
import sqlite3
import struct
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dispatch_indexer.read.dbrows import EdgeRow
from dispatch_indexer.read.modern import ServerDispatch, read_server
from dispatch_indexer.read.moderndoc import document_json
from dispatch_indexer.read.reader import read_dispatch
from dispatch_indexer.records import NodeSummary

from ..conftest import copy_fixtures
from ..realdata import (
    ARITH,
    ARITH_240,
    FAILED_240,
    FIXTURES,
    FIXTURES_240,
    INNER_240,
    OUTER_240,
    RUNNING_DB_240,
    SERVER_DB_240,
    SLEEPY_240,
)

MANIFEST: list[dict[str, Any]] = json.loads((FIXTURES_240 / "manifest.json").read_text())
# Every key a 0.110 node has: a task has function_string, a parameter value.
NODE_KEYS = {
    "name", "metadata", "start_time", "end_time", "status", "output", "error",
    "sublattice_result", "stdout", "stderr", "id", "doc", "kwargs",
}  # fmt: skip


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_fixtures(tmp_path_factory.mktemp("server") / "share", SERVER_DB_240.parent)


@pytest.fixture(scope="module")
def server(server_dir: Path) -> dict[str, ServerDispatch]:
    read = read_server(server_dir / "dispatcher_db.sqlite", server_dir / "data")
    return {d.record.dispatch_id: d for d in read.dispatches}


@pytest.fixture(scope="module")
def legacy() -> dict[str, Any]:
    """A document Covalent 0.110's own layout gives, from the legacy fixture."""
    document = read_dispatch(FIXTURES / "results" / ARITH).document
    assert document is not None
    return document


def _document(dispatch: ServerDispatch, **kwargs: Any) -> dict[str, Any]:
    document = json.loads(document_json(dispatch, **kwargs))
    assert isinstance(document, dict)
    return document


def _iso(text: str) -> str:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).isoformat()


@pytest.mark.parametrize(
    "entry", MANIFEST, ids=lambda m: f"{m['lattice_name']}-{m['dispatch_id'][:8]}"
)
def test_every_dispatch_has_a_document_shaped_as_covalent_110s(
    server: dict[str, ServerDispatch], legacy: dict[str, Any], entry: dict[str, Any]
) -> None:
    document = _document(server[entry["dispatch_id"]])
    assert list(document) == list(legacy)
    assert list(document["lattice"]) == list(legacy["lattice"])
    assert list(document["graph"]) == ["nodes", "links"]
    assert document["dispatch_id"] == entry["dispatch_id"]
    assert document["status"] == entry["status"]
    assert document["lattice"]["name"] == entry["lattice_name"]
    # Times as Covalent's encoder writes an aware datetime: isoformat().
    assert document["start_time"] == _iso(entry["start_time"])
    assert document["end_time"] == _iso(entry["end_time"])
    for node in document["graph"]["nodes"]:
        task = "value" if node["name"].startswith(":parameter:") else "function_string"
        assert set(node) == NODE_KEYS | {task}
        assert list(node)[:3] == ["name", "metadata", task]
    for link in document["graph"]["links"]:
        assert {"edge_name", "param_type", "source", "target", "key"} <= set(link)


def test_the_nodes_and_links_are_the_databases_electrons_and_edges(
    server: dict[str, ServerDispatch], server_dir: Path
) -> None:
    with sqlite3.connect(server_dir / "dispatcher_db.sqlite") as conn:
        for dispatch_id in (ARITH_240, FAILED_240, OUTER_240, INNER_240):
            document = _document(server[dispatch_id])
            electrons = conn.execute(
                "SELECT e.transport_graph_node_id, e.name, e.status FROM electrons e"
                " JOIN lattices l ON l.id = e.parent_lattice_id WHERE l.dispatch_id = ?"
                " ORDER BY e.transport_graph_node_id",
                (dispatch_id,),
            ).fetchall()
            nodes = document["graph"]["nodes"]
            assert [(n["id"], n["name"], n["status"]) for n in nodes] == electrons
            edges = conn.execute(
                "SELECT p.transport_graph_node_id, c.transport_graph_node_id, d.edge_name,"
                " d.parameter_type FROM electron_dependency d"
                " JOIN electrons c ON c.id = d.electron_id"
                " JOIN electrons p ON p.id = d.parent_electron_id"
                " JOIN lattices l ON l.id = c.parent_lattice_id WHERE l.dispatch_id = ?",
                (dispatch_id,),
            ).fetchall()
            links = document["graph"]["links"]
            assert Counter(
                (k["source"], k["target"], k["edge_name"], k["param_type"]) for k in links
            ) == Counter(edges)
            # networkx's keys: a second edge between the same two nodes is key 1.
            pairs = Counter((k["source"], k["target"]) for k in links)
            for link in links:
                assert 0 <= link["key"] < pairs[link["source"], link["target"]]


def test_the_arith_document_reads_the_workflows_own_assets(
    server: dict[str, ServerDispatch],
) -> None:
    document = _document(server[ARITH_240])
    lattice = document["lattice"]
    assert lattice["function_string"].startswith("@ct.lattice\ndef arith(a, b):")
    assert lattice["doc"] == "Adds, then multiplies."
    # Named by the signature, each value its str(), as Covalent 0.110 does.
    assert lattice["inputs"] == {"a": "1", "b": "2"}
    assert document["result"] == "6"
    nodes = {n["id"]: n for n in document["graph"]["nodes"]}
    assert nodes[0]["function_string"].startswith("@ct.electron\ndef add(x, y):")
    assert (nodes[0]["output"], nodes[0]["stdout"], nodes[0]["stderr"]) == ("3", "", "")
    # A parameter: its value, and no logs, as in a 0.110 document.
    assert (nodes[1]["value"], nodes[1]["stdout"], nodes[1]["doc"]) == ("1", None, None)
    assert nodes[3]["output"] == "6" and nodes[3]["sublattice_result"] is None


def test_the_failed_dispatch_carries_its_tasks_error(server: dict[str, ServerDispatch]) -> None:
    document = _document(server[FAILED_240])
    assert document["status"] == "FAILED" and document["result"] is None
    assert "0: fail: RuntimeError: the task failed" in document["error"]
    fail = document["graph"]["nodes"][0]
    assert (fail["name"], fail["status"]) == ("fail", "FAILED")
    assert fail["error"] == "RuntimeError: the task failed"
    assert fail["output"] is None  # never written
    assert fail["stderr"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: the task failed" in fail["stderr"]
    assert document["lattice"]["inputs"] == {"msg": "the task failed"}


def test_the_sub_workflow_task_names_the_dispatch_it_ran(
    server: dict[str, ServerDispatch],
) -> None:
    outer = _document(server[OUTER_240])
    task = outer["graph"]["nodes"][0]
    assert task["name"] == ":sublattice:inner"
    assert INNER_240 in task["sublattice_result"]
    assert all(n["sublattice_result"] is None for n in outer["graph"]["nodes"][1:])
    inner = _document(server[INNER_240])
    assert inner["lattice"]["name"] == "inner" and inner["status"] == "COMPLETED"


# ---- hostile and damaged assets ------------------------------------------


def _tobj(header: bytes, string: bytes, data: bytes) -> bytes:
    string_at = 16 + len(header)
    return struct.pack(">QQ", string_at, string_at + len(string)) + header + string + data


class Boom:
    """Would write a file if anything ever ran this pickle."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.target, "ran"))


def test_hostile_assets_give_placeholders_and_nothing_runs(covalent_server: Path) -> None:
    data = covalent_server / "data"
    folder = data / ARITH_240
    ran = covalent_server / "ran"
    evil = base64.b64encode(pickle.dumps(Boom(ran)))
    header = json.dumps({"py_version": "3.11", "attrs": {"doc": "d"}}).encode()
    # The result (also the last task's output): cut short.
    (folder / "node_5" / "results.tobj").write_bytes(b"\xff" * 40)
    # A task's output: a well-formed .tobj whose pickle part would run code.
    (folder / "node_0" / "results.tobj").write_bytes(_tobj(header, b"'fine'", evil))
    # Another's: offsets past its end.
    (folder / "node_3" / "results.tobj").write_bytes(struct.pack(">QQ", 16, 10**12) + b"x")
    # A parameter's value: truncated inside its offsets.
    (folder / "node_1" / "value.tobj").write_bytes(b"\x00\x00\x00")
    # Another's, as a .pkl (Covalent 0.136 to 0.228): code to run, not data.
    (folder / "node_4" / "value.pkl").write_bytes(pickle.dumps(Boom(ran)))
    # The inputs: a header that is not JSON.
    (folder / "inputs.tobj").write_bytes(_tobj(b"{not json", b"x", b"AAAA"))
    # A function's header: huge.
    (folder / "node_3" / "function.tobj").write_bytes(_tobj(b" " * 200_000, b"f", b"AAAA"))
    # A log that is a folder.
    (folder / "node_3" / "stdout.log").unlink()
    (folder / "node_3" / "stdout.log").mkdir()
    read = read_server(covalent_server / "dispatcher_db.sqlite", data)
    (arith,) = [d for d in read.dispatches if d.record.dispatch_id == ARITH_240]
    arith.node_assets[4]["value"] = folder / "node_4" / "value.pkl"
    document = _document(arith)
    nodes = {n["id"]: n for n in document["graph"]["nodes"]}
    assert document["result"].startswith("<unreadable result asset results.tobj: truncated")
    assert nodes[5]["output"].startswith("<unreadable results.tobj: truncated .tobj")
    assert nodes[0]["output"] == "'fine'"
    assert nodes[3]["output"].startswith("<unreadable results.tobj: truncated .tobj")
    assert nodes[1]["value"].startswith("<unreadable value.tobj: truncated .tobj")
    assert nodes[4]["value"] == "<unreadable value.pkl: it holds no string form>"
    assert document["lattice"]["inputs"]["inputs"].startswith(
        "<unreadable inputs.tobj: .tobj header is not JSON"
    )
    assert nodes[3]["doc"].startswith("<unreadable function.tobj: .tobj header of 200,000")
    assert nodes[3]["stdout"] == "<unreadable stdout.log: not a regular file>"
    assert nodes[3]["function_string"].startswith("@ct.electron\ndef mul")  # the rest as it was
    assert not ran.exists()


def test_a_huge_log_gives_its_bounded_tail(covalent_server: Path) -> None:
    data = covalent_server / "data"
    log = data / FAILED_240 / "node_0" / "stderr.log"
    with log.open("wb") as handle:
        handle.write(("noise " * 20 + "\n").encode() * 200_000)  # ~24 MB
        handle.write("RuntimeError: the very end ✓\n".encode())
    read = read_server(covalent_server / "dispatcher_db.sqlite", data)
    (failed,) = [d for d in read.dispatches if d.record.dispatch_id == FAILED_240]
    fail = _document(failed)["graph"]["nodes"][0]
    assert fail["stderr"].endswith("RuntimeError: the very end ✓\n")
    assert fail["stderr"].startswith(f"… [{log.stat().st_size:,} bytes]\n")
    assert len(fail["stderr"]) < 20_000


# ---- the size bound --------------------------------------------------------


def _many_nodes(dispatch: ServerDispatch, count: int, log: Path) -> ServerDispatch:
    """The dispatch with ``count`` tasks in a chain, every one's logs ``log``."""
    model = dispatch.node_assets[0]
    when = dispatch.record.start_time
    nodes = [NodeSummary(i, f"task{i}", "COMPLETED", when, when, None) for i in range(count)]
    assets = {i: {**model, "stdout": log, "stderr": log} for i in range(count)}
    edges = [
        EdgeRow(dispatch.record.dispatch_id, i + 1, i, "x", "arg", 0) for i in range(count - 1)
    ]
    return replace(
        dispatch, record=replace(dispatch.record, nodes=nodes), node_assets=assets, edges=edges
    )


def test_many_nodes_keep_the_document_under_its_size(
    server: dict[str, ServerDispatch], tmp_path: Path
) -> None:
    log = tmp_path / "big.log"
    log.write_text("line of output\n" * 10_000)
    dispatch = _many_nodes(server[ARITH_240], 3_000, log)
    text = document_json(dispatch, max_bytes=200_000)
    assert len(text.encode()) <= 200_000
    graph = json.loads(text)["graph"]
    shown = graph["nodes"]
    assert shown and len(shown) + graph["nodes_omitted"] == 3_000
    ids = {n["id"] for n in shown}
    assert graph["links"] and all(k["source"] in ids and k["target"] in ids for k in graph["links"])
    # Every read counts against the document's read limit: past it, the
    # assets are shown as not read.
    roomy = _document(dispatch, max_bytes=100_000_000)
    logs = [n["stdout"] for n in roomy["graph"]["nodes"]]
    assert logs[0].endswith("line of output\n")
    assert logs[-1] == "<not read: over the document's read limit>"
    assert len(json.dumps(roomy).encode()) < 40_000_000


def test_a_running_dispatch_has_its_document_as_it_stands(server_dir: Path) -> None:
    read = read_server(RUNNING_DB_240, server_dir / "data")
    sleepy = _document(next(d for d in read.dispatches if d.record.dispatch_id == SLEEPY_240))
    assert sleepy["status"] == "RUNNING" and sleepy["end_time"] is None
    assert sleepy["start_time"] is not None
    assert any(n["status"] != "COMPLETED" for n in sleepy["graph"]["nodes"])


def test_a_schema_without_asset_tables_still_gives_a_document(covalent_server: Path) -> None:
    # Covalent before the asset tables: each task's files at its own
    # storage_path plus its *_filename columns (see test_modern).
    database, data = covalent_server / "dispatcher_db.sqlite", covalent_server / "data"
    with sqlite3.connect(database) as conn:
        for table in ("lattice_assets", "electron_assets", "assets"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute(
            "UPDATE electrons SET storage_path = ("
            " SELECT l.storage_path FROM lattices l WHERE l.id = parent_lattice_id)"
            " || '/node_' || transport_graph_node_id"
        )
    read = read_server(database, data)
    failed = _document(next(d for d in read.dispatches if d.record.dispatch_id == FAILED_240))
    fail = failed["graph"]["nodes"][0]
    assert fail["function_string"].startswith("@ct.electron\ndef fail(msg):")
    assert fail["error"] == "RuntimeError: the task failed"
    assert "RuntimeError: the task failed" in fail["stderr"]
    # The lattice's own files are not named by these rows: not known.
    assert failed["lattice"]["function_string"] is None and failed["lattice"]["inputs"] == {}
