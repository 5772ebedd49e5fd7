"""Reading one dispatch folder matches what Covalent's own API reports."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dispatch_indexer.read.reader import read_dispatch
from dispatch_indexer.read.values import to_json

from ..realdata import ARITH, CUSTOM, ELSEWHERE, FAILED, FIXTURES, HEAVY, NUMERIC


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _entries(manifest: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(m, id=f"{m['results_dir']}/{m['dispatch_id'][:8]}") for m in manifest]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "entry" in metafunc.fixturenames:
        import json

        manifest = json.loads((FIXTURES / "manifest.json").read_text())
        metafunc.parametrize("entry", _entries(manifest))


def test_record_matches_manifest(entry: dict[str, Any]) -> None:
    folder = FIXTURES / entry["results_dir"] / entry["dispatch_id"]
    outcome = read_dispatch(folder)
    record = outcome.record
    assert record.unreadable is None
    assert record.dispatch_id == entry["dispatch_id"]
    assert record.status == entry["status"]
    assert record.lattice_name == entry["lattice_name"]
    assert record.num_nodes == entry["num_nodes"]
    assert _iso(record.start_time) == entry["start_time"]
    assert _iso(record.end_time) == entry["end_time"]
    if entry["error_contains"] is None:
        assert record.error is None
    else:
        assert record.error is not None
        assert record.error.strip().splitlines()[-1] == entry["error_contains"]
    for value in (record.start_time, record.end_time):
        assert value is None or value.utcoffset() == dt.timedelta(0)
    # Where it was found, not where the pickle says it was written.
    assert record.path == str(folder)
    assert record.results_dir == str(folder.parent)
    assert record.pickled_results_dir is not None
    assert not Path(record.pickled_results_dir).exists()
    assert record.size == len(outcome.data or b"")
    assert record.sha256 is not None and len(record.sha256) == 64


def test_nodes_are_summarised() -> None:
    record = read_dispatch(FIXTURES / f"results/{FAILED}").record
    assert [(n.node_id, n.name, n.status) for n in record.nodes] == [
        (0, "fail", "FAILED"),
        (1, ":parameter:the task failed", "COMPLETED"),
    ]
    failed = record.nodes[0]
    assert failed.error is not None and "RuntimeError: the task failed" in failed.error
    assert failed.start_time is not None and failed.end_time is not None


@pytest.mark.parametrize(
    ("dispatch_id", "expected"),
    [
        (ARITH, 6),
        (FAILED, None),
        (NUMERIC, "<numpy.ndarray shape=(1000,) dtype=float64>"),
        (CUSTOM, "<__main__.Measurement>"),
    ],
)
def test_result_values(dispatch_id: str, expected: Any) -> None:
    assert read_dispatch(FIXTURES / "results" / dispatch_id).record.result == expected


def test_plain_dict_result() -> None:
    folder = FIXTURES / f"results-alt/nested/deeper/{ELSEWHERE}"
    assert read_dispatch(folder).record.result == {"alpha": "1", "beta": "two"}


def test_huge_bytes_result_is_shortened() -> None:
    record = read_dispatch(FIXTURES / f"results/{HEAVY}").record
    assert isinstance(record.result, str)
    assert len(record.result) < 300
    assert "bytes)" in record.result


def test_values_are_bounded() -> None:
    shared: list[Any] = ["x" * 10]
    for _ in range(60):
        shared = [shared, shared]
    out = to_json(shared)
    import json

    assert len(json.dumps(out)) < 2_000_000
    loop: list[Any] = []
    loop.append(loop)
    assert to_json(loop) == ["<cycle>"]


def test_reader_needs_no_covalent_numpy_or_cloudpickle(tmp_path: Path) -> None:
    # A fresh interpreter that would fail loudly on importing any of them.
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('covalent', 'numpy', 'cloudpickle', 'networkx'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
from dispatch_indexer.read.reader import read_dispatch
import pathlib
for pkl in sorted(pathlib.Path({str(FIXTURES)!r}).rglob('result.pkl')):
    r = read_dispatch(pkl.parent).record
    assert r.unreadable is None, (pkl, r.unreadable)
assert not any(m.split('.')[0] in ('covalent', 'numpy', 'cloudpickle') for m in sys.modules)
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_info_yaml_is_the_fallback_for_an_unreadable_pickle(corpus: Path) -> None:
    folder = corpus / f"results/{ARITH}"
    (folder / "result.pkl").write_bytes(b"\x80\x05garbage")
    outcome = read_dispatch(folder, settle_seconds=0)
    assert outcome.record.unreadable
    assert not outcome.transient
    assert outcome.record.status == "COMPLETED"  # from result_info.yaml
    assert outcome.record.dispatch_id == ARITH


def test_a_fresh_truncated_pickle_is_transient(corpus: Path) -> None:
    folder = corpus / f"results/{ARITH}"
    pkl = folder / "result.pkl"
    pkl.write_bytes(pkl.read_bytes()[:1000])
    outcome = read_dispatch(folder, settle_seconds=5)
    assert outcome.transient
    assert outcome.record.unreadable == "result.pkl is truncated"
    # Once it has settled, the same file is recorded as unreadable.
    settled = read_dispatch(folder, settle_seconds=5, now=pkl.stat().st_mtime + 10)
    assert not settled.transient
    assert settled.record.unreadable == "result.pkl is truncated"
