"""covalent-indexer: an index of every Covalent dispatch on this machine."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import IndexerError
    from .index import DispatchIndex
    from .records import DispatchRecord, NodeSummary, RootInfo, ScanSummary

__all__ = [
    "DispatchIndex",
    "DispatchRecord",
    "IndexerError",
    "NodeSummary",
    "RootInfo",
    "ScanSummary",
]
__version__ = "0.1.0"

# Imported on first use: a reader process imports this package too, and has
# no use for peewee and psycopg (about 0.2 s and 20 MB of each worker's start).
_WHERE = {
    "DispatchIndex": ".index",
    "DispatchRecord": ".records",
    "IndexerError": ".errors",
    "NodeSummary": ".records",
    "RootInfo": ".records",
    "ScanSummary": ".records",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
