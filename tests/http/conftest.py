"""Fixtures of the pages' tests: one index with both Covalent generations."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex


@pytest.fixture
def both(indexed: DispatchIndex, covalent_server: Path) -> DispatchIndex:
    """The 0.110 results folders and the 0.240 server, in one index."""
    indexed.add_dirs([covalent_server / "data"])
    indexed.scan()
    return indexed
