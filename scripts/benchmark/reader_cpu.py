"""CPU per dispatch of the reading side of a build, split where it is spent.

    .venv/bin/python scripts/benchmark/reader_cpu.py RESULTS_DIR [N] [--parts]

Reads the first N dispatch folders (sorted) of RESULTS_DIR twice, after one
warm-up pass: once in this process (``read_dispatch`` and the outcome's
``compact`` pickled as it crosses the pipe), and once through a ``ReadPool``
of two reader processes, in batches as a scan hands them out; for the pool
it prints the CPU of this process (receiving the outcomes) and of the
readers (their rusage once reaped). CPU time, not wall, so that a shared
machine's load blurs it little. ``--parts`` adds the single-process split of
one read into its steps. Nothing is written anywhere.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import resource
import sys
import time
from pathlib import Path

from dispatch_indexer.config import Config
from dispatch_indexer.read import compressed, covalent_result, disksize, document, safepickle
from dispatch_indexer.read.pool import ReadPool, ReadTask
from dispatch_indexer.read.reader import compact, read_dispatch


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def in_process(folders: list[str]) -> float:
    """us per dispatch: read, compact and pickle for the pipe."""
    start = time.process_time()
    for folder in folders:
        pickle.dumps(compact(read_dispatch(folder)), protocol=pickle.HIGHEST_PROTOCOL)
    return (time.process_time() - start) / len(folders) * 1e6


def parts(folders: list[str]) -> dict[str, float]:
    spent: dict[str, float] = {}

    def timed(name: str, step, *args):  # type: ignore[no-untyped-def]
        start = time.process_time()
        value = step(*args)
        spent[name] = spent.get(name, 0.0) + time.process_time() - start
        return value

    for folder in folders:
        data = timed("read bytes", Path(folder, "result.pkl").read_bytes)
        timed("sha256", lambda d=data: hashlib.sha256(d).hexdigest())
        root = timed("safepickle.loads", safepickle.loads, data)
        timed("interpret", covalent_result.interpret, root)
        timed("document_text", document.document_text, root, str(Path(folder).parent))
        timed("folder_size", disksize.folder_size, folder)
        timed("compress", compressed.compress, data)
        outcome = read_dispatch(folder)
        timed("compact+pickle", lambda o=outcome: pickle.dumps(compact(o), protocol=5))
    return {name: seconds / len(folders) * 1e6 for name, seconds in spent.items()}


def _readers_cpu(pool: ReadPool) -> float:
    """CPU seconds the pool's live readers have spent (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for worker in pool._workers:
        with open(f"/proc/{worker.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def pooled(folders: list[str], processes: int = 2) -> tuple[float, float, float]:
    """(wall s, us per dispatch in this process, us per dispatch in the readers)."""
    config = Config()
    tasks = [
        ReadTask(f, None, "scan", config.settle_seconds, config.max_pickle_bytes) for f in folders
    ]
    with ReadPool(processes, config.read_memory_mb, config.read_timeout_seconds) as pool:
        pool.read_many(tasks[: config.batch_size * processes])  # readers started and warm
        before, before_readers = _cpu(), _readers_cpu(pool)
        start = time.perf_counter()
        for i in range(0, len(tasks), config.batch_size):
            pool.read_many(tasks[i : i + config.batch_size])
        wall = time.perf_counter() - start
        main, readers = _cpu() - before, _readers_cpu(pool) - before_readers
    n = len(folders)
    return wall, main / n * 1e6, readers / n * 1e6


def main(argv: list[str]) -> None:
    root = argv[0]
    count = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 3000
    names = sorted(os.listdir(root))[:count]
    folders = [os.path.join(root, name) for name in names]
    print(f"load average {os.getloadavg()[0]:.2f}, {len(folders)} folders of {root}")
    in_process(folders[: min(500, len(folders))])  # warm-up
    print(f"in one process: read+compact+pickle {in_process(folders):.0f} us/dispatch")
    if "--parts" in argv:
        for name, us in parts(folders).items():
            print(f"  {name:18s} {us:7.1f} us")
    wall, main_us, readers_us = pooled(folders)
    print(
        f"pool of 2: {wall:.2f}s wall, this process {main_us:.0f} us/dispatch, "
        f"readers {readers_us:.0f} us/dispatch"
    )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
