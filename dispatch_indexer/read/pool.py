"""Read dispatch folders in worker processes, each bounded in memory and time.

The loader never runs code from a pickle, but CPython's C unpickler itself
can be driven into trouble by a hostile file: a memo index near 2**32 makes
it allocate a table of billions of entries, a key nested a million deep
overflows the C stack when hashed, a crafted key can take 2**40 steps to
hash. In a worker, such a file costs the worker, which is replaced; the
file is recorded as unreadable with the reason, and the daemon goes on.
Each worker runs under an address-space limit (``read_memory_mb``) and each
file under a deadline (``read_timeout_seconds``). The workers are also how
a scan parses on every core.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing.connection as mpc
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..errors import IndexerError
from .answers import Inbox, readable
from .reader import ReadOutcome, blank_record, read_dispatch

log = logging.getLogger(__name__)

# Tasks handed to a worker at once: enough to amortise the round trip,
# few enough that a crash or a deadline requeues little. The next chunk is
# sent when a worker has half of this left, so that it never waits for one.
CHUNK = 16
# While more than two chunks of answers are owed (a scan), the pause between
# taking the answers waiting and looking again: a wake-up per answer costs
# this process, which also writes the index, about 70 us an answer, against
# 40 with the pause (scripts/benchmark/reader_cpu.py), and preempts a reader.
# A read of a few files never pauses.
GATHER_SECONDS = 0.001
# Workers that exit before answering anything this many times in a row mean
# the interpreter cannot start them, not that a file is bad.
MAX_FAILED_STARTS = 3
# The exit code of a worker that a file left unable to go on (out of memory
# even for its answer): the file's fault, unlike a worker that cannot start.
EXIT_FILE_FAILED = 3
MEMORY_REASON = "result.pkl needs more memory to read than allowed"


class ReaderUnavailableError(IndexerError):
    """The reader processes cannot be started."""


@dataclass(frozen=True)
class ReadTask:
    folder: str
    root: str | None
    source: str
    settle_seconds: float
    max_bytes: int


class Reader(Protocol):
    def read_many(self, tasks: list[ReadTask]) -> list[ReadOutcome]: ...

    def retire_idle(self, idle_seconds: float) -> bool: ...

    def warm(self) -> None: ...

    def close(self) -> None: ...


def read_task(task: ReadTask) -> ReadOutcome:
    return read_dispatch(
        task.folder,
        root=task.root,
        source=task.source,
        settle_seconds=task.settle_seconds,
        max_bytes=task.max_bytes,
    )


class InProcessReader:
    """Reads in the calling process (``reader_processes = 0``, the hook)."""

    def read_many(self, tasks: list[ReadTask]) -> list[ReadOutcome]:
        return [read_task(task) for task in tasks]

    def retire_idle(self, idle_seconds: float) -> bool:
        return False

    def warm(self) -> None:
        pass

    def close(self) -> None:
        pass


def failed_outcome(task: ReadTask, reason: str) -> ReadOutcome:
    """The outcome for a file that took its worker down."""
    record = blank_record(Path(task.folder), source=task.source, root=task.root)
    record.unreadable = reason
    with contextlib.suppress(OSError):
        st = os.stat(os.path.join(task.folder, "result.pkl"))
        record.size, record.mtime_ns, record.inode = st.st_size, st.st_mtime_ns, st.st_ino
    return ReadOutcome(record=record, data=None, transient=False)


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: mpc.Connection
    inbox: Inbox
    # (task index, task) still owed by this worker, oldest first.
    pending: deque[tuple[int, ReadTask]] = field(default_factory=deque)
    started: float = 0.0
    answered: int = 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()


class ReadPool:
    """A few worker processes reading dispatch folders; see the module doc."""

    def __init__(self, processes: int, memory_mb: int, timeout: float) -> None:
        self.processes = max(1, processes)
        self.memory_bytes = memory_mb * 1024 * 1024
        self.timeout = timeout
        self._workers: list[_Worker] = []
        self._failed_starts = 0
        self._last_used = time.monotonic()

    def _spawn(self) -> _Worker:
        # A fresh interpreter running one small module, rather than a fork of
        # the daemon: the daemon has threads (watchdog's reader), and a fork
        # can copy a lock that some thread was holding.
        ours, theirs = socket.socketpair()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dispatch_indexer.read.worker",
                str(self.memory_bytes),
                str(theirs.fileno()),
            ],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        conn = mpc.Connection(ours.detach())
        return _Worker(process, conn, Inbox(conn.fileno()))

    def read_many(self, tasks: list[ReadTask]) -> list[ReadOutcome]:
        if not tasks:
            return []
        results: list[ReadOutcome | None] = [None] * len(tasks)
        queue: deque[tuple[int, ReadTask]] = deque(enumerate(tasks))
        self._ensure(min(self.processes, (len(tasks) + CHUNK - 1) // CHUNK))
        while queue or any(w.pending for w in self._workers):
            for worker in list(self._workers):
                if len(worker.pending) <= CHUNK // 2 and queue:
                    self._hand_out(worker, queue, results)
            busy = [w for w in self._workers if w.pending]
            if not busy:
                continue
            ready = readable([w.inbox.fd for w in busy], 0.5)
            for worker in busy:
                if worker.inbox.fd in ready:
                    self._collect(worker, results, queue)
                elif time.monotonic() - worker.started > self.timeout:
                    worker.kill()
                    why = f"reading result.pkl took longer than {self.timeout:g}s"
                    self._lost(worker, results, queue, why)
            if ready and len(queue) + sum(len(w.pending) for w in self._workers) > 2 * CHUNK:
                # A scan: let answers gather before the next wake-up.
                time.sleep(GATHER_SECONDS)
        self._last_used = time.monotonic()
        return [outcome for outcome in results if outcome is not None]

    def _hand_out(
        self, worker: _Worker, queue: deque[tuple[int, ReadTask]], results: list[ReadOutcome | None]
    ) -> None:
        chunk = [queue.popleft() for _ in range(min(CHUNK, len(queue)))]
        if not worker.pending:
            # The deadline runs from the last answer while tasks are owed.
            worker.started = time.monotonic()
        worker.pending.extend(chunk)
        try:
            worker.conn.send([task for _, task in chunk])
        except OSError:
            self._lost(worker, results, queue, "the reader process died")

    def _collect(
        self, worker: _Worker, results: list[ReadOutcome | None], queue: deque[tuple[int, ReadTask]]
    ) -> None:
        outcomes = worker.inbox.receive()
        if outcomes is None:
            self._died(worker, results, queue)
            return
        for outcome in outcomes:
            index, _task = worker.pending.popleft()
            results[index] = outcome
            worker.answered += 1
        if outcomes:
            self._failed_starts = 0
            worker.started = time.monotonic()

    def _died(
        self, worker: _Worker, results: list[ReadOutcome | None], queue: deque[tuple[int, ReadTask]]
    ) -> None:
        code = worker.process.wait()
        if worker.answered == 0 and code > 0 and code != EXIT_FILE_FAILED:
            # It never got going: the interpreter, not the file, is the problem.
            self._failed_starts += 1
            if self._failed_starts >= MAX_FAILED_STARTS:
                raise ReaderUnavailableError(
                    f"reader processes exit as they start (exit code {code})"
                )
            queue.extendleft(reversed(worker.pending))
            worker.pending.clear()
            self._replace(worker)
            return
        if code < 0:
            why = f"the reader process was killed by signal {-code} reading result.pkl"
            if code == -signal.SIGKILL:
                why += " (out of memory?)"
        elif code == EXIT_FILE_FAILED:
            why = MEMORY_REASON
        else:
            why = f"the reader process died (exit code {code}) reading result.pkl"
        self._lost(worker, results, queue, why)

    def _lost(
        self,
        worker: _Worker,
        results: list[ReadOutcome | None],
        queue: deque[tuple[int, ReadTask]],
        why: str,
    ) -> None:
        """The worker is gone: its current task failed, the rest go back."""
        if worker.pending:
            index, task = worker.pending.popleft()
            log.warning("%s: %s", task.folder, why)
            results[index] = failed_outcome(task, why)
        queue.extendleft(reversed(worker.pending))
        worker.pending.clear()
        self._replace(worker)

    def _replace(self, worker: _Worker) -> None:
        with contextlib.suppress(Exception):
            worker.conn.close()
        if worker.alive():
            worker.kill()
        self._workers.remove(worker)
        self._workers.append(self._spawn())

    def retire_idle(self, idle_seconds: float) -> bool:
        """Let the workers that have read go if none has read for
        ``idle_seconds``, and leave one fresh worker waiting: after a scan,
        each holds tens of megabytes that a daemon waiting for the next save
        has no use for, while a fresh one holds about 24 MB and answers that
        save at once instead of after an interpreter's start (0.1 s). Whether
        any were let go."""
        if time.monotonic() - self._last_used < idle_seconds:
            return False
        used = [w for w in self._workers if w.answered]
        if not used:
            return False
        self._stop(used)
        self.warm()
        return True

    def warm(self) -> None:
        """Start one worker ahead of the first read, if none is running."""
        self._ensure(1)

    def _ensure(self, count: int) -> None:
        """At least ``count`` live workers (the dead ones dropped)."""
        self._workers = [w for w in self._workers if w.alive()]
        while len(self._workers) < count:
            self._workers.append(self._spawn())

    def close(self) -> None:
        self._stop(list(self._workers))

    def _stop(self, workers: list[_Worker]) -> None:
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.conn.send(None)
        for worker in workers:
            try:
                worker.process.wait(2)
            except subprocess.TimeoutExpired:
                worker.kill()
            with contextlib.suppress(Exception):
                worker.conn.close()
        gone = {id(w) for w in workers}
        self._workers = [w for w in self._workers if id(w) not in gone]

    def __enter__(self) -> ReadPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_reader(processes: int, memory_mb: int, timeout: float) -> Reader:
    """Worker processes, or in-process reading when ``processes`` is 0."""
    if processes <= 0:
        return InProcessReader()
    return ReadPool(processes, memory_mb, timeout)
