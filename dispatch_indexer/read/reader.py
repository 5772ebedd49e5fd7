"""Read one dispatch folder into a record, safely.

A dispatch folder holds ``result.pkl`` (and usually ``result_info.yaml``).
The pickle is loaded by ``safepickle``, which never imports or runs anything
it names; a pickle that cannot be followed becomes a record marked
unreadable, with the reason.

Covalent rewrites ``result.pkl`` in place while a workflow runs, so a read
can catch it half-written. Such a failure is reported as *transient* (the
file changed while we read it, or it was modified within the settle window)
and the caller retries later instead of recording garbage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import pickle
import stat as stat_mod
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import DispatchRecord, FileStat
from ..text import storable_json
from . import compressed
from .covalent_result import NotAResultError, interpret
from .disksize import folder_size
from .document import document_text
from .resultinfo import read_info
from .safepickle import loads

RESULT_FILE = "result.pkl"
INFO_FILE = "result_info.yaml"
DEFAULT_SETTLE_SECONDS = 2.0
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024

log = logging.getLogger(__name__)


@dataclass
class ReadOutcome:
    """What one read of a dispatch folder gave."""

    record: DispatchRecord
    # The bytes of result.pkl, when they were read whole.
    data: bytes | None
    # The failure may be a write in progress: retry instead of recording it.
    transient: bool = False
    # Covalent's UI document of the dispatch (see ``document``), from a good
    # read, as stored JSON text; kept out of the record so that listings
    # never carry it.
    document_json: str | None = None
    # The record's nodes (as ``NodeSummary.to_json``) and result as the
    # stored JSON text, when the reader process encoded them (``compact``):
    # then ``record.nodes`` is left empty and ``record.result`` None.
    nodes_json: str | None = None
    result_json: str | None = None
    # How ``data`` holds the bytes read: None as they are (``compressed``).
    data_encoding: str | None = None

    @property
    def ok(self) -> bool:
        return self.record.unreadable is None

    @property
    def document(self) -> dict[str, Any] | None:
        return json.loads(self.document_json) if self.document_json is not None else None


# DispatchRecord's fields but the two sent as JSON text, in order.
_ENCODED = ("nodes", "result")
_FIELDS = [f.name for f in dataclasses.fields(DispatchRecord)]
_PLAIN = tuple(name for name in _FIELDS if name not in _ENCODED)
# Where the two sit among the fields (side by side): ``expand`` passes the
# rest by position, a quarter of the cost of passing them by name.
_AT = _FIELDS.index(_ENCODED[0])
assert _FIELDS[_AT : _AT + 2] == list(_ENCODED)


def compact(outcome: ReadOutcome) -> tuple[Any, ...]:
    """An outcome as one flat tuple of plain values, for the pipe from a
    reader process: its nodes and result encoded as the stored JSON text
    there, rather than pickled as objects here and encoded again by the
    process that writes (where the time is the index's). ``expand``
    undoes it."""
    record = outcome.record
    values = tuple(getattr(record, name) for name in _PLAIN)
    nodes = outcome.nodes_json
    result = outcome.result_json
    if nodes is None:
        nodes = storable_json([n.to_json() for n in record.nodes])
        result = None if record.result is None else storable_json(record.result)
    data, encoding = outcome.data, outcome.data_encoding
    if data is not None and encoding is None and outcome.ok and not outcome.transient:
        # The bytes to store (only a good read's are) compressed here, in
        # parallel: the process that writes then moves and stores about half.
        # A process short of memory sends them as they are.
        with contextlib.suppress(MemoryError):
            data, encoding = compressed.compress(data)
    return (values, data, encoding, outcome.transient, outcome.document_json, nodes, result)


def expand(packed: tuple[Any, ...]) -> ReadOutcome:
    """The ``ReadOutcome`` of a ``compact`` tuple."""
    values, data, encoding, transient, document, nodes, result = packed
    if len(values) != len(_PLAIN):
        raise ValueError(f"an outcome of {len(values)} fields, not {len(_PLAIN)}")
    record = DispatchRecord(*values[:_AT], [], None, *values[_AT:])
    return ReadOutcome(
        record,
        data,
        transient,
        document,
        nodes_json=nodes,
        result_json=result,
        data_encoding=encoding,
    )


def stat_of(st: os.stat_result) -> FileStat:
    return FileStat(size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino)


def blank_record(
    folder: Path,
    *,
    results_dir: str | None = None,
    source: str = "scan",
    root: str | None = None,
    origin: str = "result-pkl",
) -> DispatchRecord:
    """A record of a dispatch folder before anything is known of its content."""
    return DispatchRecord(
        dispatch_id=folder.name,
        status=None,
        lattice_name=None,
        start_time=None,
        end_time=None,
        error=None,
        num_nodes=None,
        path=str(folder),
        results_dir=results_dir or str(folder.parent),
        source=source,
        root=root,
        origin=origin,
    )


def read_dispatch(
    folder: str | os.PathLike[str],
    *,
    results_dir: str | None = None,
    root: str | None = None,
    source: str = "scan",
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    now: float | None = None,
) -> ReadOutcome:
    """Read ``folder`` (absolute or not; it is made absolute) into a record.

    Never raises for anything about the folder's contents; an ``OSError`` on
    the folder itself (it vanished) is reported as a transient failure.
    """
    folder_path = Path(os.path.abspath(folder))
    pkl = folder_path / RESULT_FILE
    record = blank_record(folder_path, results_dir=results_dir, source=source, root=root)
    data, before, problem, transient = _read_bytes(pkl, max_bytes, settle_seconds, now)
    if before is not None:
        record.size, record.mtime_ns, record.inode = before.size, before.mtime_ns, before.inode
    if data is not None:
        record.sha256 = hashlib.sha256(data).hexdigest()
    document = None
    if problem is None and data is not None:
        problem, transient, document = _fill_from_pickle(record, data, before, settle_seconds, now)
    if problem is not None:
        record.unreadable = problem
        _fill_from_info(record, folder_path / INFO_FILE)
    record.folder_size = folder_size(folder_path)
    return ReadOutcome(record=record, data=data, transient=transient, document_json=document)


def _read_bytes(
    pkl: Path, max_bytes: int, settle_seconds: float, now: float | None
) -> tuple[bytes | None, FileStat | None, str | None, bool]:
    """(data, stat, problem, transient) for one read of result.pkl."""
    try:
        # O_NONBLOCK so that a FIFO planted as result.pkl cannot hang us.
        fd = os.open(pkl, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None, None, f"{RESULT_FILE} is missing", True
    except OSError as exc:
        return None, None, f"cannot open {RESULT_FILE}: {exc.strerror or exc}", False
    try:
        st = os.fstat(fd)
        before = stat_of(st)
        if not stat_mod.S_ISREG(st.st_mode):
            return None, before, f"{RESULT_FILE} is not a regular file", False
        if st.st_size > max_bytes:
            return (
                None,
                before,
                (f"{RESULT_FILE} is {st.st_size:,} bytes, over the {max_bytes:,}-byte limit"),
                False,
            )
        chunks = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        after = stat_of(os.fstat(fd))
    except OSError as exc:
        return None, None, f"cannot read {RESULT_FILE}: {exc.strerror or exc}", True
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        return None, after, f"{RESULT_FILE} grew over the {max_bytes:,}-byte limit", False
    if after != before or len(data) != after.size:
        return data, after, f"{RESULT_FILE} changed while it was read", True
    return data, after, None, False


def _fill_from_pickle(
    record: DispatchRecord,
    data: bytes,
    st: FileStat | None,
    settle_seconds: float,
    now: float | None,
) -> tuple[str | None, bool, str | None]:
    """Fill ``record`` from the pickle: (problem, transient, document), the
    problem None and the document Covalent's UI one on success."""
    if not data:
        return f"{RESULT_FILE} is empty", _recent(st, settle_seconds, now), None
    try:
        root = loads(data)
    except EOFError:
        return f"{RESULT_FILE} is truncated", _recent(st, settle_seconds, now), None
    except pickle.UnpicklingError as exc:
        # The C unpickler reports a cut-off frame this way rather than EOF.
        if "truncated" in str(exc):
            return f"{RESULT_FILE} is truncated", _recent(st, settle_seconds, now), None
        return (
            f"{RESULT_FILE} is not a readable pickle: {_reason(exc)}",
            _recent(st, settle_seconds, now),
            None,
        )
    except RecursionError:
        return f"{RESULT_FILE} is nested too deeply to read", False, None
    except MemoryError:
        return f"{RESULT_FILE} needs too much memory to read", False, None
    except Exception as exc:  # noqa: BLE001 - any malformed stream is "unreadable"
        # A half-written pickle can fail with any opcode error, not only EOF.
        return (
            f"{RESULT_FILE} is not a readable pickle: {_reason(exc)}",
            _recent(st, settle_seconds, now),
            None,
        )
    try:
        fields = interpret(root)
    except NotAResultError as exc:
        return str(exc), False, None
    except RecursionError:
        return f"{RESULT_FILE} is nested too deeply to read", False, None
    except Exception as exc:  # noqa: BLE001 - a value we did not foresee must not stop a scan
        return f"{RESULT_FILE} holds a Result that cannot be read: {_reason(exc)}", False, None
    record.dispatch_id = fields.dispatch_id or record.dispatch_id
    record.status = fields.status
    record.lattice_name = fields.lattice_name
    record.start_time = fields.start_time
    record.end_time = fields.end_time
    record.error = fields.error
    record.num_nodes = fields.num_nodes
    record.pickled_results_dir = fields.pickled_results_dir
    record.result = fields.result
    record.nodes = fields.nodes
    record.last_event = fields.last_event
    return None, False, _document(root, record.path, record.results_dir)


def _document(root: Any, path: str, results_dir: str) -> str | None:
    """Covalent's UI document (JSON text), or None: a value we did not
    foresee must not cost the dispatch its record."""
    try:
        return document_text(root, results_dir)
    except Exception as exc:  # noqa: BLE001 - the record is still good without it
        log.warning("no Covalent UI document for %s: %s", path, _reason(exc))
        return None


def _fill_from_info(record: DispatchRecord, info_path: Path) -> None:
    # Only the status: the id stays the folder's name, which is the id
    # Covalent gave the dispatch. A YAML beside an unreadable pickle must not
    # be able to claim another dispatch's record.
    info = read_info(info_path)
    if "status" in info:
        record.status = info["status"]


def _recent(st: FileStat | None, settle_seconds: float, now: float | None) -> bool:
    if st is None:
        return True
    current = time.time() if now is None else now
    return current - st.mtime_ns / 1e9 < settle_seconds


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    name = type(exc).__name__
    if isinstance(exc, pickle.UnpicklingError) and text:
        return text[:200]
    return f"{name}: {text[:200]}" if text else name
