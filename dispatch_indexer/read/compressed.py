"""Stored bytes held compressed (``ResultBlob.encoding``, ``ReadOutcome.data_encoding``).

A reader process compresses what it read (``reader.compact``), in parallel
and at zlib's fastest level: a result.pkl's strings and memo compress about
3 to 1, so the process that writes the index then moves and stores a third.
Only zlib here, with no other import: the store reads stored bytes back
through ``stored_bytes`` without loading the reader's modules.
"""

from __future__ import annotations

import zlib

# The encoding of zlib-compressed bytes (None: the bytes as they are).
ZLIB = "zlib"


def compress(data: bytes) -> tuple[bytes, str]:
    """``data`` compressed, with its encoding."""
    return zlib.compress(data, 1), ZLIB


def stored_bytes(data: bytes, encoding: str | None) -> bytes:
    """The bytes as read, from ``data`` held with ``encoding``."""
    if encoding is None:
        return data
    if encoding == ZLIB:
        return zlib.decompress(data)
    raise ValueError(f"stored bytes in an unknown encoding: {encoding!r}")
