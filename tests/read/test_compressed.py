"""Stored bytes held compressed: what a reader compresses reads back exactly,
no bigger than zlib's fastest level made them, and rows written as zlib
before zstandard stay readable."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from dispatch_indexer.read.compressed import ZLIB, ZSTD, compress, stored_bytes

from ..realdata import FIXTURES


def _pickles() -> list[bytes]:
    return [p.read_bytes() for p in sorted(FIXTURES.glob("results/*/result.pkl"))]


def test_compressed_bytes_read_back_exactly_and_no_bigger_than_zlib() -> None:
    pickles = _pickles()
    assert pickles
    packed = [compress(data) for data in pickles]
    assert all(encoding == ZSTD for _, encoding in packed)
    assert [stored_bytes(data, encoding) for data, encoding in packed] == pickles
    # The index's bytes per dispatch must not grow with the faster codec.
    assert sum(len(data) for data, _ in packed) <= sum(len(zlib.compress(d, 1)) for d in pickles)


def test_zlib_rows_and_plain_rows_still_read() -> None:
    data = _pickles()[0]
    assert stored_bytes(zlib.compress(data, 1), ZLIB) == data
    assert stored_bytes(data, None) == data
    assert stored_bytes(compress(b"")[0], ZSTD) == b""


def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        stored_bytes(b"x", "brotli")


def test_threads_compress_at_once() -> None:
    # Each thread has its own compressor: sharing one is not safe.
    pickles = _pickles() * 8
    with ThreadPoolExecutor(4) as threads:
        packed = list(threads.map(compress, pickles))
        back = list(threads.map(lambda p: stored_bytes(*p), packed))
    assert back == pickles
