"""Read ``result_info.yaml`` without constructing Python objects.

Covalent writes ``result_status: !!python/object:...Status {STATUS: ...}``.
A safe loader rejects that tag; an unsafe one would import and build the
class. This loader reads any ``!!python/...`` tag as the plain data under it,
so the status is readable and nothing is constructed. The file is only a
fallback: the pickle is trusted over it.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from typing import Any

import yaml

from .covalent_result import status_text

MAX_INFO_BYTES = 64 * 1024

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _PlainLoader(_Base):  # type: ignore[misc, valid-type]
    """SafeLoader that turns any unknown tag into the plain data it tags."""


def _plain(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_PlainLoader.add_multi_constructor("", _plain)


def read_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The dispatch id, status, and start and end time (to the minute, UTC)
    from a result_info.yaml; {} if unusable."""
    raw = _read_raw(path)
    return parse_info(raw) if raw is not None else {}


# (dispatch id, status, start time, end time), each None if not known.
Fields = tuple[str | None, str | None, dt.datetime | None, dt.datetime | None]
_UNKNOWN: Fields = (None, None, None, None)


def read_fields(path: str, dir_fd: int | None = None) -> Fields:
    """``read_info`` as a tuple, for the listing pass, which reads tens of
    thousands a second; ``path`` relative to ``dir_fd``, if given."""
    raw = _read_raw(path, dir_fd)
    if raw is None:
        return _UNKNOWN
    fast = _fast_fields(raw)
    if fast is not None:
        return fast
    info = _parsed(raw)
    if not info:
        return _UNKNOWN
    return (
        info.get("dispatch_id"), info.get("status"), info.get("start_time"), info.get("end_time"),
    )  # fmt: skip


_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _read_raw(path: str | os.PathLike[str], dir_fd: int | None = None) -> bytes | None:
    try:
        # O_NONBLOCK so that a FIFO planted as result_info.yaml cannot hang us.
        fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        # No fstat to check for a regular file (a quarter of the listing
        # pass's system calls): a FIFO reads as empty, a folder fails to
        # read, and a device gives more than a result_info.yaml can hold.
        raw = os.read(fd, MAX_INFO_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return raw if len(raw) <= MAX_INFO_BYTES else None


# What Covalent writes, key by key (yaml.dump sorts them): read without a
# YAML parser, which costs some fifty times more; anything else is parsed.
_COVALENT_LAYOUT = re.compile(
    rb"dispatch_id: ([^\n]*)\n"
    rb"end_time: ([^\n]*)\n"
    rb"result_status: !!python/object:covalent\._shared_files\.util_classes\.Status\n"
    rb"  STATUS: ([A-Z_]+)\n"
    rb"start_time: ([^\n]*)\n?\Z"
)
_PLAIN_ID = re.compile(rb"[A-Za-z0-9_.-]+\Z")


def parse_info(raw: bytes) -> dict[str, Any]:
    """``read_info`` of the file's bytes."""
    fast = _fast_fields(raw)
    if fast is None:
        return _parsed(raw)
    dispatch_id, status, start, end = fast
    out: dict[str, Any] = {"dispatch_id": dispatch_id, "status": status}
    if start is not None:
        out["start_time"] = start
    if end is not None:
        out["end_time"] = end
    return out


def _parsed(raw: bytes) -> dict[str, Any]:
    """``parse_info`` by the YAML parser."""
    try:
        data = yaml.load(raw, Loader=_PlainLoader)  # noqa: S506 - _PlainLoader is a SafeLoader
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, Any] = {}
    dispatch_id = data.get("dispatch_id")
    if isinstance(dispatch_id, str) and dispatch_id:
        out["dispatch_id"] = dispatch_id
    status = data.get("result_status")
    if isinstance(status, dict):
        status = status.get("STATUS")
    if isinstance(status, str) and status:
        out["status"] = status_text(status)
    for key in ("start_time", "end_time"):
        moment = _minute(data.get(key))
        if moment is not None:
            out[key] = moment
    return out


def _fast_fields(raw: bytes) -> Fields | None:
    """``read_fields``'s answer from Covalent's own layout; None for
    anything else, or anything YAML could read differently (left to the
    parser)."""
    match = _COVALENT_LAYOUT.match(raw)
    if match is None:
        return None
    dispatch_id, end, status, start = match.groups()
    if _PLAIN_ID.match(dispatch_id) is None:
        return None  # quoted, or anything YAML reads differently
    start_time = _minute_bytes(start)
    end_time = _minute_bytes(end)
    if start_time is _NOT_ASCII or end_time is _NOT_ASCII:
        return None
    # Both ASCII: the patterns allow nothing else.
    return (dispatch_id.decode("ascii"), status.decode("ascii"), start_time, end_time)  # type: ignore[return-value]


_NOT_ASCII = object()


@functools.lru_cache(maxsize=4096)
def _minute_bytes(text: bytes) -> dt.datetime | object | None:
    # A history's dispatches share few minutes: converting each once took
    # two fifths of the listing pass's parsing.
    if text == b"null":
        return None
    try:
        return _minute(text.decode("ascii"))
    except UnicodeDecodeError:
        return _NOT_ASCII


def _minute(value: Any) -> dt.datetime | None:
    """Covalent's "2026-11-24 22:59" (UTC), as YAML or as our fast path
    gives it."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment
