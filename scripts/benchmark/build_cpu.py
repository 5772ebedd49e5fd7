"""CPU per dispatch of a cold build, split by process.

    .venv/bin/python scripts/benchmark/build_cpu.py RESULTS_DIR SCRATCH_HOME

Indexes RESULTS_DIR into a fresh index under SCRATCH_HOME (emptied first)
with ``DispatchIndex.scan`` and prints the wall time, the listing pass's
time and the CPU per dispatch of this process (the writer, the thread that
takes the readers' answers, the listing pass) and of the reader processes
(their rusage once reaped, when the index closes). CPU time, not wall, so
that a shared machine's load blurs it little. Set HOME and the XDG folders
to scratch ones too: nothing else is written.
"""

from __future__ import annotations

import resource
import shutil
import sys
import time
from pathlib import Path

from dispatch_indexer import DispatchIndex


def main(results: str, scratch: Path) -> None:
    shutil.rmtree(scratch, ignore_errors=True)
    with DispatchIndex(home=scratch) as index:
        index.add_dirs([results])
        before = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        summary = index.scan()
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_SELF)
    readers = resource.getrusage(resource.RUSAGE_CHILDREN)
    n = max(summary.new + summary.updated, 1)
    own_sys = after.ru_stime - before.ru_stime
    own = (after.ru_utime - before.ru_utime + own_sys) / n * 1e6
    theirs = (readers.ru_utime + readers.ru_stime) / n * 1e6
    print(
        f"N={n} build {wall:.2f}s listed {summary.listed_seconds:.3f}s | CPU/dispatch: "
        f"main {own:.0f} us (sys {own_sys / n * 1e6:.0f}), readers {theirs:.0f} us "
        f"(sys {readers.ru_stime / n * 1e6:.0f}), total {own + theirs:.0f} us"
    )
    print(summary.line())


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]))
