"""A reader process: ``python -m dispatch_indexer.read.worker MEMORY_BYTES FD``
reads the tasks the pool sends on FD and answers each (``answers``). See
``pool`` for why reading happens out of process, and within what bounds."""

from __future__ import annotations

import gc
import multiprocessing.connection as mpc
import os
import resource
import signal
import sys

from .answers import send_answer
from .pool import EXIT_FILE_FAILED, MEMORY_REASON, ReadTask, failed_outcome, read_task
from .reader import ReadOutcome


def worker_main(conn: mpc.Connection, memory_bytes: int) -> None:
    """A worker's loop: read the tasks it is sent, send each outcome back."""
    # The parent decides when workers stop; Ctrl-C in a terminal reaches the
    # whole process group, and must not kill a read half way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            tasks = conn.recv()
        except (EOFError, OSError):
            return
        if tasks is None:
            return
        for task in tasks:
            try:
                _answer(conn, task)
            except MemoryError:
                os._exit(EXIT_FILE_FAILED)


def _answer(conn: mpc.Connection, task: ReadTask) -> None:
    """Read one dispatch folder and send the outcome back. What a hostile
    file built can outlive its read as reference cycles (the classes a
    pickle makes in class mode), leaving no memory even for the answer:
    those are collected, and the answer sent again."""
    try:
        outcome: ReadOutcome | None = read_task(task)
    except MemoryError:
        outcome = None
    if outcome is None:
        outcome = failed_outcome(task, MEMORY_REASON)
    try:
        send_answer(conn, outcome)
    except MemoryError:
        gc.collect()
        send_answer(conn, outcome)


def main(argv: list[str]) -> None:
    memory_bytes, fd = int(argv[0]), int(argv[1])
    worker_main(mpc.Connection(fd), memory_bytes)


if __name__ == "__main__":
    main(sys.argv[1:])
