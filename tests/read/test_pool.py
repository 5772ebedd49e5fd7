"""The reader processes: a file that kills, starves or stalls its reader costs
that reader, is recorded as unreadable, and the rest of the batch is read."""

from __future__ import annotations

import shutil
import struct
import time
from pathlib import Path

import pytest

from dispatch_indexer.read.compressed import stored_bytes
from dispatch_indexer.read.pool import ReadPool, ReadTask

from ..realdata import ARITH, FIXTURES


def _task(folder: Path) -> ReadTask:
    return ReadTask(str(folder), str(folder.parent), "scan", 0.0, 1 << 30)


def _good(tmp_path: Path, n: int) -> list[Path]:
    folders = []
    for i in range(n):
        folder = tmp_path / f"good-{i}"
        shutil.copytree(FIXTURES / "results" / ARITH, folder)
        folders.append(folder)
    return folders


def _hostile(tmp_path: Path, name: str, data: bytes) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "result.pkl").write_bytes(data)
    return folder


def _deep_tuple_key(depth: int = 1_000_000) -> bytes:
    # {((((...),),),): 1}: hashing the key recurses once per level in C.
    return b"\x80\x04}" + b")" + b"\x85" * depth + b"K\x01s."


def _memo_bomb() -> bytes:
    # LONG_BINPUT with an index near 2**32: the C unpickler grows its memo
    # table to that size before storing anything.
    return b"\x80\x02N" + b"r" + struct.pack("<I", 0xFFFFFFF0) + b"."


def _slow_hash(levels: int = 40) -> bytes:
    # t = (t, t) forty times through the memo: hashing it takes 2**40 steps.
    body = b"\x80\x04" + b")" + b"\x94"
    for i in range(levels):
        body += b"h" + bytes([i]) + b"h" + bytes([i]) + b"\x86\x94"
    return body + b"}" + b"h" + bytes([levels]) + b"K\x01" + b"s."


@pytest.fixture
def pool() -> ReadPool:
    readers = ReadPool(processes=2, memory_mb=256, timeout=3.0)
    yield readers
    readers.close()


def test_a_crashing_file_costs_one_reader(pool: ReadPool, tmp_path: Path) -> None:
    good = _good(tmp_path, 20)
    bad = _hostile(tmp_path, "segfault", _deep_tuple_key())
    tasks = [_task(f) for f in good[:10]] + [_task(bad)] + [_task(f) for f in good[10:]]
    outcomes = pool.read_many(tasks)
    assert [o.record.path for o in outcomes] == [t.folder for t in tasks]
    crashed = outcomes[10].record
    assert crashed.unreadable is not None and "reader process" in crashed.unreadable
    assert all(
        o.record.unreadable is None and o.record.status == "COMPLETED"
        for i, o in enumerate(outcomes)
        if i != 10
    )
    # The pool goes on working afterwards.
    assert pool.read_many([_task(good[0])])[0].record.status == "COMPLETED"


def test_a_memory_bomb_is_bounded(pool: ReadPool, tmp_path: Path) -> None:
    bomb = _hostile(tmp_path, "bomb", _memo_bomb())
    started = time.monotonic()
    [outcome] = pool.read_many([_task(bomb)])
    assert time.monotonic() - started < 10
    assert outcome.record.unreadable is not None
    assert "memory" in outcome.record.unreadable or "reader process" in outcome.record.unreadable


def test_a_file_that_takes_forever_hits_the_deadline(pool: ReadPool, tmp_path: Path) -> None:
    slow = _hostile(tmp_path, "slow", _slow_hash())
    good = _good(tmp_path, 3)
    started = time.monotonic()
    outcomes = pool.read_many([_task(slow)] + [_task(f) for f in good])
    assert time.monotonic() - started < 15
    assert "longer than 3s" in (outcomes[0].record.unreadable or "")
    assert [o.record.status for o in outcomes[1:]] == ["COMPLETED"] * 3


def test_outcomes_come_back_in_order_and_whole(pool: ReadPool, tmp_path: Path) -> None:
    folders = _good(tmp_path, 40)
    outcomes = pool.read_many([_task(f) for f in folders])
    assert [o.record.path for o in outcomes] == [str(f) for f in folders]
    data = (FIXTURES / "results" / ARITH / "result.pkl").read_bytes()
    # The bytes as read, compressed by the worker (``read.compressed``).
    assert all(stored_bytes(o.data, o.data_encoding) == data for o in outcomes)


def test_idle_readers_are_let_go_and_one_fresh_waits(pool: ReadPool, tmp_path: Path) -> None:
    folder = FIXTURES / "results" / ARITH
    task = ReadTask(str(folder), str(folder.parent), "scan", 0.0, 10**9)
    assert pool.read_many([task])[0].ok
    workers = [w.process for w in pool._workers]
    assert workers and all(p.poll() is None for p in workers)
    assert not pool.retire_idle(60)  # used just now
    assert pool.retire_idle(0)
    assert all(p.poll() is not None for p in workers)  # gone, not left behind
    # One fresh worker waits for the next read, which it answers.
    (standby,) = [w.process for w in pool._workers]
    assert standby.poll() is None and standby not in workers
    assert not pool.retire_idle(0)  # it has read nothing: nothing to let go
    assert pool.read_many([task])[0].ok
    assert pool._workers[0].process is standby


def test_warm_starts_one_reader_before_any_read(pool: ReadPool) -> None:
    assert not pool._workers
    pool.warm()
    pool.warm()  # one is enough
    (worker,) = pool._workers
    assert worker.process.poll() is None
    pool.close()
    assert worker.process.poll() is not None and not pool._workers
