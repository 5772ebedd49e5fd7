"""Hostile and broken result.pkl and result_info.yaml files, through the
reader pool and through a running daemon: every one is recorded with a clear
reason within bounded memory and time, the daemon stays up, and nothing in
a pickle ever runs (canary files, a canary module and a FIFO prove it).

These are the C-unpickler hazards that tests/read/test_safety.py leaves to the
worker processes: a memo index near 2**32, a dict key nested a million
tuples deep (a segfault), a key whose hash takes 2**40 steps, colliding int
keys (a quadratic dict), a class-mode pickle that makes a class per call,
and files far larger than memory.
"""

from __future__ import annotations

import os
import pickle
import random
import shlex
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.read.pool import ReadPool, ReadTask

from ..daemon_helpers import wait_for
from ..fault_helpers import Daemon, configure, rows, running
from ..read.test_safety import Named, Reduce, result_pickle
from ..realdata import FIXTURES, SLEEPY

MEMORY_MB = 160
TIMEOUT = 2.0
MAX_BYTES = 300 * 1024 * 1024
SETTLE = 0.3
MB = 1024 * 1024


def memo_put(index: int) -> bytes:
    return pickle.LONG_BINPUT + index.to_bytes(4, "little")


def memo_get(index: int) -> bytes:
    return pickle.LONG_BINGET + index.to_bytes(4, "little")


def _exponential_hash_key(levels: int = 40) -> bytes:
    """t = (t, t), 40 times over through the memo, as a dict key."""
    ops = b"K\x01\x85" + memo_put(0) + b"0"
    for i in range(1, levels + 1):
        ops += memo_get(i - 1) + memo_get(i - 1) + b"\x86" + memo_put(i) + b"0"
    return b"\x80\x02" + ops + b"}" + memo_get(levels) + b"K\x01s."


def _colliding_int_keys(count: int = 60_000) -> bytes:
    """Int keys that are all multiples of 2**61 - 1: one hash, quadratic inserts."""
    modulus = 2**61 - 1
    items = b"".join(
        pickle.LONG1 + bytes([len(raw)]) + raw + b"K\x01"
        for raw in (pickle.encode_long(modulus * (i + 1)) for i in range(count))
    )
    return b"\x80\x02}(" + items + b"u."


def _class_per_call(calls: int = 250_000) -> bytes:
    """A call's result used as a class puts the loader in class mode, where
    each call makes a new class (hundreds of bytes per byte of pickle)."""
    make_class = b"cos\nsystem\n" + memo_put(1) + b")R)\x81" + b"0"
    return b"\x80\x02" + make_class + b"](" + (memo_get(1) + b")R") * calls + b"e."


def _canary_payloads(canary: Path, fifo: Path) -> dict[str, bytes]:
    command = f"touch {shlex.quote(str(canary))}"
    return {
        "runs-a-command": pickle.dumps(Reduce(os.system, command), protocol=2),
        "runs-a-command-raw": b"cos\nsystem\n(S'" + command.encode() + b"'\ntR.",
        "imports-a-module": pickle.dumps(Reduce(__import__, "canary_module"), protocol=4),
        "names-a-module": pickle.dumps(Named("canary_module", "anything"), protocol=0),
        # If this ran, the worker would block on the FIFO until its deadline.
        "reads-a-file": pickle.dumps(
            Reduce(Reduce(getattr, Reduce(open, str(fifo)), "read")), protocol=2
        ),
        "inside-a-result": result_pickle(
            "inside-a-result", 2, _result=Reduce(os.system, command), _error=Reduce(exec, "1")
        ),
    }


# name -> (what to write, what the reason must say; None: read fine)
Case = tuple[Callable[[Path], None], tuple[str, ...] | None]


def _write(data: bytes) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / "result.pkl").write_bytes(data)

    return write


def _sparse(size: int) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        with open(folder / "result.pkl", "wb") as fh:
            fh.truncate(size)

    return write


def cases(canary: Path, fifo: Path) -> dict[str, Case]:
    real = (FIXTURES / "results" / SLEEPY / "result.pkl").read_bytes()
    not_a_result = ("not a Covalent Result",)
    memory = ("needs too much memory", "needs more memory")
    found: dict[str, Case] = {
        "empty": (_write(b""), ("is empty",)),
        "random-bytes": (
            _write(random.Random(5).randbytes(3000)),
            ("not a readable pickle", "truncated"),
        ),
        "truncated": (_write(real[: len(real) // 2]), ("truncated",)),
        "not-a-result": (_write(pickle.dumps({"_dispatch_id": "x", "status": 1})), not_a_result),
        "memo-index-near-2-32": (_write(b"\x80\x02N" + memo_put(2**32 - 2) + b"."), memory),
        "memo-index-2-27": (_write(b"\x80\x02N" + memo_put(2**27) + b"."), memory),
        "deep-tuple-key": (
            _write(b"\x80\x02}N" + b"\x85" * 1_000_000 + b"K\x01s."),
            ("killed by signal", "nested too deeply"),
        ),
        "exponential-hash": (_write(_exponential_hash_key()), ("took longer than",)),
        "quadratic-dict": (_write(_colliding_int_keys()), ("took longer than",)),
        "class-per-call": (_write(_class_per_call()), (*memory, "took longer than")),
        "sparse-5-gb": (_sparse(5 * 1024 * MB), ("over the", "limit")),
        "sparse-over-memory": (_sparse(250 * MB), memory),
        "lone-surrogates": (
            _write(result_pickle("lone-surrogates", 2, _error="bad \ud800 text")),
            None,
        ),
    }
    for name, data in _canary_payloads(canary, fifo).items():
        found[name] = (_write(data), not_a_result if name != "inside-a-result" else None)
    return found


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A file any payload would create, and a FIFO any read would block on;
    a module whose import would create the canary is put on the path of the
    processes that read."""
    modules = tmp_path / "modules"
    modules.mkdir()
    file = tmp_path / "canary"
    (modules / "canary_module.py").write_text(
        f"open({str(file)!r}, 'w').close()\nanything = print\n"
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(modules)
    try:
        yield file, fifo
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
        assert not file.exists(), "a payload ran"


def _layout(root: Path, found: dict[str, Case]) -> dict[str, Path]:
    folders = {}
    for name, (write, _) in found.items():
        folder = root / name
        folder.mkdir(parents=True)
        write(folder)
        folders[name] = folder
    return folders


def _check_reason(name: str, reason: str | None, expected: tuple[str, ...] | None) -> None:
    if expected is None:
        assert reason is None, (name, reason)
        return
    assert isinstance(reason, str) and "\n" not in reason, (name, reason)
    assert any(part in reason for part in expected), (name, reason)


@pytest.mark.timeout(120)
def test_hostile_files_through_the_reader_pool(tmp_path: Path, canary: tuple[Path, Path]) -> None:
    found = cases(*canary)
    folders = _layout(tmp_path / "results", found)
    tasks = [ReadTask(str(f), str(tmp_path), "scan", 0, MAX_BYTES) for f in folders.values()]
    started = time.monotonic()
    with ReadPool(2, MEMORY_MB, TIMEOUT) as pool:
        outcomes = pool.read_many(tasks)
        # The pool is still good for the next real file.
        fine = pool.read_many(
            [ReadTask(str(FIXTURES / "results" / SLEEPY), None, "scan", 0, MAX_BYTES)]
        )
    elapsed = time.monotonic() - started
    assert fine[0].ok and fine[0].record.status == "COMPLETED"
    by_name = {Path(o.record.path).name: o for o in outcomes}
    assert set(by_name) == set(found)
    for name, (_, expected) in found.items():
        _check_reason(name, by_name[name].record.unreadable, expected)
        assert by_name[name].transient is False
    # Bounded: the three slow ones each stop at the deadline, on two workers.
    assert elapsed < 4 * TIMEOUT + 10, elapsed
    assert by_name["lone-surrogates"].record.error == "bad \ud800 text"


def _daemon_root(tmp_path: Path) -> Path:
    """A registered results directory, with the daemon's readers bounded."""
    results = tmp_path / "results"
    results.mkdir()
    with DispatchIndex() as index:
        index.add_dirs([results])
    configure(
        reader_processes=2,
        read_memory_mb=MEMORY_MB,
        read_timeout_seconds=TIMEOUT,
        max_pickle_bytes=MAX_BYTES,
        settle_seconds=SETTLE,
    )
    return results


@pytest.mark.timeout(120)
def test_hostile_files_through_the_daemon(
    tmp_path: Path, home: Path, canary: tuple[Path, Path]
) -> None:
    results = _daemon_root(tmp_path)
    found = cases(*canary)
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        good = results / SLEEPY
        shutil.copytree(FIXTURES / "results" / SLEEPY, good)
        _layout(results, found)  # written while it runs: read live
        expected_ids = {*found, SLEEPY}

        def settled() -> bool:
            have = rows()
            return set(have) >= expected_ids and all(
                have[n]["unreadable"] or have[n]["status"] for n in expected_ids
            )

        wait_for(settled, 60, "a record for every file")
        have = rows()
        assert daemon.alive()
        # The daemon itself never unpickles: its memory stays small.
        assert daemon.vm_peak_kb() < 400 * 1024
        late = results / "after-them"
        shutil.copytree(FIXTURES / "results" / SLEEPY, late)
        wait_for(lambda: any(r["path"] == str(late) for r in rows().values()), 10, "one more")
    for name, (_, expected) in found.items():
        row = have[name]
        _check_reason(name, row["unreadable"], expected)
    assert have[SLEEPY]["status"] == "COMPLETED" and have[SLEEPY]["unreadable"] is None
    with DispatchIndex() as index:
        assert index.get("lone-surrogates").error == "bad \\ud800 text"
        assert index.get("inside-a-result").result == "<posix.system>"


@pytest.mark.timeout(120)
def test_hostile_files_found_by_the_startup_scan(
    tmp_path: Path, home: Path, canary: tuple[Path, Path]
) -> None:
    # On disk before the daemon starts: its first scan reads them, in the
    # worker processes like every read, never in the daemon itself.
    results = _daemon_root(tmp_path)
    found = cases(*canary)
    shutil.copytree(FIXTURES / "results" / SLEEPY, results / SLEEPY)
    _layout(results, found)
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        expected_ids = {*found, SLEEPY}
        wait_for(lambda: set(rows()) >= expected_ids, 60, "a record for every file")
        assert daemon.alive()
        assert daemon.vm_peak_kb() < 400 * 1024
        have = rows()
    for name, (_, expected) in found.items():
        _check_reason(name, have[name]["unreadable"], expected)
    assert have[SLEEPY]["status"] == "COMPLETED" and have[SLEEPY]["unreadable"] is None


# ---- result_info.yaml ---------------------------------------------------------------


def _laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\ndispatch_id: *a{levels - 1}\nresult_status: *a{levels - 1}\n"


def test_hostile_result_info_yaml_through_the_daemon(tmp_path: Path, home: Path) -> None:
    """The YAML is read safely and only as a fallback for an unreadable
    pickle; it never overrides what a readable pickle says, and a hostile
    one cannot take over another dispatch's record."""
    results = tmp_path / "results"
    results.mkdir()
    with DispatchIndex() as index:
        index.add_dirs([results])
    configure(settle_seconds=SETTLE)
    canary = tmp_path / "canary"
    command = f"touch {shlex.quote(str(canary))}"
    garbage = b"\x80\x02garbage"
    yaml_cases = {
        "apply-tag": (
            f'dispatch_id: x\nresult_status: !!python/object/apply:os.system ["{command}"]\n'
        ),
        "billion-laughs": _laughs(),
        "huge": "dispatch_id: huge\npadding: '" + "x" * 2_000_000 + "'\n",
        "wrong-types": "dispatch_id: [1, 2]\nresult_status: {STATUS: [not, text]}\n",
        "binary": random.Random(3).randbytes(4096),
        "deep": "[" * 50_000 + "]" * 50_000 + "\n",
    }
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        for name, text in yaml_cases.items():
            folder = results / name
            folder.mkdir()
            (folder / "result.pkl").write_bytes(garbage)
            raw = text if isinstance(text, bytes) else text.encode()
            (folder / "result_info.yaml").write_bytes(raw)
        # A readable pickle whose YAML disagrees: the pickle wins.
        liar = results / SLEEPY
        shutil.copytree(FIXTURES / "results" / SLEEPY, liar)
        (liar / "result_info.yaml").write_text("dispatch_id: someone-else\nresult_status: FAILED\n")
        # An unreadable pickle whose YAML claims that same, real dispatch.
        thief = results / "thief"
        thief.mkdir()
        (thief / "result.pkl").write_bytes(garbage)
        (thief / "result_info.yaml").write_text(f"dispatch_id: {SLEEPY}\nresult_status: FAILED\n")
        wait_for(
            lambda: len([r for r in rows().values() if r["unreadable"]]) >= len(yaml_cases),
            20,
            "the unreadable records",
        )
        time.sleep(2 * SETTLE + 0.5)
        have = rows()
        assert daemon.alive()
    assert not canary.exists()
    for row in have.values():
        assert isinstance(row["dispatch_id"], str) and len(row["dispatch_id"]) < 300
        assert row["status"] is None or isinstance(row["status"], str)
    assert have[SLEEPY]["status"] == "COMPLETED"
    assert have[SLEEPY]["unreadable"] is None
    assert have[SLEEPY]["path"] == str(liar)
    assert "someone-else" not in have
