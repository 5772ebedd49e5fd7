"""Text that a database can store: no lone surrogates.

Python hands out two kinds of string that are not valid Unicode text, and
neither SQLite (through ``sqlite3``) nor PostgreSQL accepts them:

- a path whose name is not valid UTF-8 (``os.listdir`` and inotify give the
  undecodable bytes as the surrogates U+DC80..U+DCFF, PEP 383);
- a string from a pickle, whose UTF-8 decoder lets any lone surrogate through.

``storable`` shows such characters as escapes, ``\\xe9`` for a byte of a
file name and ``\\ud800`` for any other surrogate, and leaves every valid
string untouched. It is applied to every text column as it is written and to
every value a text column is compared with, so a folder named with the bytes
``caf\\xe9`` is recorded, listed, shown and looked up as ``caf\\xe9`` (the
same on every read, so a rescan finds it unchanged). The escaped form names
the record, not the folder: code that goes back to the disk uses the path it
got from the disk.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
# ... and NUL, which PostgreSQL's text cannot hold (SQLite's can): shown as
# \x00 on both engines, so that both store the same.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0:
        return "\\x00"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def storable(text: str) -> str:
    """``text`` with any lone surrogate (or NUL) shown as an escape (see the
    module doc)."""
    if "\x00" not in text and (text.isascii() or _SURROGATE.search(text) is None):
        return text
    return _UNSTORABLE.sub(_escape, text)


def storable_json(value: Any) -> str:
    """``value`` as compact JSON text whose strings are all ``storable``."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    # Raw surrogates only occur inside string literals, where the escape's
    # backslash must itself be escaped to stay one character.
    return _SURROGATE.sub(lambda m: _escape(m).replace("\\", "\\\\"), text)
