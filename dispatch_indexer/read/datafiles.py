"""What a server's record reads from its data dir, besides the database:
a task log's last line, an error asset's text, the result's preview.

Every read is bounded (a log's tail, an error's first kilobytes, the
``.tobj`` string part only) and a file missing or unreadable is an absent
answer, never an error: Covalent writes these files while it runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from .tobj import MAX_PREVIEW, UnreadableAssetError, read_asset

__all__ = ["last_error_line", "preview", "read_text"]

# The bytes of a log's tail read to find its last line.
_LOG_TAIL = 64 * 1024
_ERROR_TEXT = 4096


def last_error_line(path: Path | None) -> str | None:
    """The last meaningful line of a task's log: a traceback's exception line
    (the caret markers Python 3.11 prints under code are skipped)."""
    if path is None:
        return None
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - _LOG_TAIL))
            tail = handle.read(_LOG_TAIL).decode("utf-8", "replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        text = line.strip()
        if text and set(text) - set("^~ "):
            return text[:_ERROR_TEXT]
    return None


def read_text(path: Path | None) -> str | None:
    """A small text file's content (an error asset), None if empty or unreadable."""
    if path is None:
        return None
    try:
        with path.open("rb") as handle:
            text = handle.read(_ERROR_TEXT).decode("utf-8", "replace").strip()
    except OSError:
        return None
    return text or None


def preview(path: Path | None) -> tuple[str | None, str | None]:
    """The result's string form, or the reason it cannot be read. A result
    asset not written (yet, or ever: failed, cancelled) is no error."""
    if path is None or not path.exists():
        return None, None
    try:
        if path.stat().st_size == 0:
            return None, None
        return read_asset(path, max_preview=MAX_PREVIEW).preview, None
    except (UnreadableAssetError, OSError) as exc:
        return None, f"result asset {path.name}: {exc}"
