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


def _read_raw(path: str | os.PathLike[str]) -> bytes | None:
    try:
        # O_NONBLOCK so that a FIFO planted as result_info.yaml cannot hang us.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
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
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.-]+\Z")


def parse_info(raw: bytes) -> dict[str, Any]:
    """``read_info`` of the file's bytes."""
    match = _COVALENT_LAYOUT.match(raw)
    if match is not None:
        fast = _from_covalent_layout(match)
        if fast is not None:
            return fast
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


def _from_covalent_layout(match: re.Match[bytes]) -> dict[str, Any] | None:
    """``parse_info``'s answer from Covalent's own layout; None for anything
    YAML could read differently (left to the parser)."""
    try:
        dispatch_id, end, status, start = (g.decode("ascii") for g in match.groups())
    except UnicodeDecodeError:
        return None
    if _PLAIN_ID.match(dispatch_id) is None:
        return None  # quoted, or anything YAML reads differently
    out: dict[str, Any] = {"dispatch_id": dispatch_id, "status": status}
    for key, text in (("start_time", start), ("end_time", end)):
        if text != "null":
            moment = _minute_text(text)
            if moment is not None:
                out[key] = moment
    return out


@functools.lru_cache(maxsize=4096)
def _minute_text(text: str) -> dt.datetime | None:
    # A history's dispatches share few minutes: converting each once took
    # two fifths of the listing pass's parsing.
    return _minute(text)


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
