"""Read ``result_info.yaml`` without constructing Python objects.

Covalent writes ``result_status: !!python/object:...Status {STATUS: ...}``.
A safe loader rejects that tag; an unsafe one would import and build the
class. This loader reads any ``!!python/...`` tag as the plain data under it,
so the status is readable and nothing is constructed. The file is only a
fallback: the pickle is trusted over it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
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


def read_info(path: Path) -> dict[str, Any]:
    """The dispatch id and status from a result_info.yaml; {} if unusable."""
    try:
        # O_NONBLOCK so that a FIFO planted as result_info.yaml cannot hang us.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return {}
    try:
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return {}
            raw = fh.read(MAX_INFO_BYTES + 1)
    except OSError:
        return {}
    if len(raw) > MAX_INFO_BYTES:
        return {}
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
    return out
