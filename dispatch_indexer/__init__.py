"""covalent-indexer: an index of every Covalent dispatch on this machine."""

from __future__ import annotations

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
