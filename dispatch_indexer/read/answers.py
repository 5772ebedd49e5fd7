"""Answers from a reader process to the process that writes the index.

Each answer is one ``compact`` outcome, pickled by the C pickler (plain
values only) and framed as ``Connection.send_bytes`` frames it. The
receiving side takes whatever is waiting on the socket in one read and
splits it (``Inbox``): the process that writes the index pays for every
wake-up and system call made there, and during a build the answers queue
up while it writes.
"""

from __future__ import annotations

import datetime
import io
import multiprocessing.connection as mpc
import os
import pickle
import select
import struct
from typing import Any

from .reader import ReadOutcome, compact, expand

# Bytes taken from a worker's socket at once: every answer waiting there
# (a socket holds about 200 KB).
RECEIVE_BYTES = 256 * 1024


def send_answer(conn: mpc.Connection, outcome: ReadOutcome) -> None:
    # Plain values only (``compact``): the C pickler, not multiprocessing's
    # own, and in the frames ``Inbox`` splits.
    conn.send_bytes(pickle.dumps(compact(outcome), protocol=pickle.HIGHEST_PROTOCOL))


class Inbox:
    """Answers read from a worker's socket in bulk: whatever is waiting is
    taken in one read and split into ``Connection.send_bytes``'s frames
    (a 4-byte length, or -1 and an 8-byte one), rather than one wake-up
    and two reads per answer: the process that writes the index pays for
    every system call made here."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        # Read into, again and again: os.read would allocate (and map) a
        # fresh RECEIVE_BYTES object per read.
        self.chunk = bytearray(RECEIVE_BYTES)

    def receive(self) -> list[ReadOutcome] | None:
        """The answers complete after one read (the socket is readable);
        None when the worker is gone."""
        try:
            size = os.readv(self.fd, [self.chunk])
        except OSError:
            return None
        if not size:
            return None
        buffer = self.buffer
        with memoryview(self.chunk) as chunk:
            buffer += chunk[:size]
        outcomes = []
        start = 0
        while len(buffer) - start >= 4:
            (size,) = struct.unpack_from("!i", buffer, start)
            head = 4
            if size == -1:
                if len(buffer) - start < 12:
                    break
                (size,) = struct.unpack_from("!Q", buffer, start + 4)
                head = 12
            end = start + head + size
            if end > len(buffer):
                break
            outcomes.append(_load(bytes(buffer[start + head : end])))
            start = end
        del buffer[:start]
        return outcomes


def readable(fds: list[int], timeout: float) -> set[int]:
    """Those of ``fds`` with answers (or an end) to read, within ``timeout`` s."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return {fd for fd, _ in poller.poll(timeout * 1000)}


# What an answer may name: a record's times. Nothing else, so that even a
# reader process that a file took over could not make this process run code.
_TIMES = {name: getattr(datetime, name) for name in ("datetime", "date", "timedelta", "timezone")}


class _AnswerUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "datetime" and name in _TIMES:
            return _TIMES[name]
        raise pickle.UnpicklingError(f"an answer names {module}.{name}")


def _load(message: bytes) -> ReadOutcome:
    return expand(_AnswerUnpickler(io.BytesIO(message)).load())
