"""Answers from a reader process: split from the socket in bulk, whole and in
order however the bytes arrive, and never able to name code to run."""

from __future__ import annotations

import multiprocessing.connection as mpc
import os
import pickle
import socket
import struct
import threading

import pytest

from dispatch_indexer.read.answers import Inbox, readable, send_answer
from dispatch_indexer.read.reader import compact, read_dispatch

from ..realdata import FIXTURES


def _pair() -> tuple[mpc.Connection, Inbox, socket.socket]:
    ours, theirs = socket.socketpair()
    return mpc.Connection(theirs.detach()), Inbox(ours.fileno()), ours


def _receive_all(inbox: Inbox, count: int) -> list:
    got: list = []
    while len(got) < count:
        assert readable([inbox.fd], 10.0) == {inbox.fd}
        batch = inbox.receive()
        assert batch is not None
        got.extend(batch)
    return got


def test_answers_come_back_whole_in_order_many_at_once() -> None:
    folders = sorted(p.parent for p in FIXTURES.glob("results/*/result.pkl"))
    outcomes = [read_dispatch(f) for f in folders]
    conn, inbox, ours = _pair()
    # Everything is waiting before the first read: few reads take it all.
    sender = threading.Thread(target=lambda: [send_answer(conn, o) for o in outcomes])
    sender.start()
    got = _receive_all(inbox, len(outcomes))
    sender.join()
    assert [compact(o) for o in got] == [compact(o) for o in outcomes]
    conn.close()
    assert readable([inbox.fd], 10.0) == {inbox.fd}
    assert inbox.receive() is None  # the worker is gone
    ours.close()


def test_an_answer_split_across_reads_waits_for_its_end() -> None:
    outcome = read_dispatch(next(FIXTURES.glob("results/*/result.pkl")).parent)
    body = pickle.dumps(compact(outcome), protocol=pickle.HIGHEST_PROTOCOL)
    ours, theirs = socket.socketpair()
    inbox = Inbox(ours.fileno())
    # The long form of the length too (-1, then 8 bytes), as send_bytes
    # writes it for answers over 2 GB.
    frame = struct.pack("!i", -1) + struct.pack("!Q", len(body)) + body
    for cut in (3, 10, len(frame) - 1):
        theirs.sendall(frame[:cut])
        assert inbox.receive() == []
        theirs.sendall(frame[cut:])
        (back,) = inbox.receive() or [None]
        assert compact(back) == compact(outcome)
    theirs.close()
    ours.close()


def test_an_answer_naming_anything_but_a_time_is_refused() -> None:
    ours, theirs = socket.socketpair()
    inbox = Inbox(ours.fileno())
    hostile = pickle.dumps(os.system)  # a global: would be looked up and called
    theirs.sendall(struct.pack("!i", len(hostile)) + hostile)
    with pytest.raises(pickle.UnpicklingError, match=r"names posix\.system"):
        inbox.receive()
    theirs.close()
    ours.close()
