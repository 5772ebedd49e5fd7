"""Where a path that Covalent's database recorded is now.

The database records absolute paths (``storage_path``, the ``results_dir``
the server ran with) on the machine and in the folder where the server ran.
They go stale as soon as the data dir is moved, copied or mounted elsewhere
(the fixture's point to ``/home/covalent/...``, which no longer exists), so
they are never opened as recorded: each is mapped onto the data dir as it is
now, by what it was below (the recorded data dir, or the dispatch id's
folder), and the answer always stays inside the data dir, whatever a
hostile row says.
"""

from __future__ import annotations

import functools
import os
import posixpath
from pathlib import Path

__all__ = ["recorded_root", "relocate", "relocate_text"]


def recorded_root(
    storage_path: str | None, dispatch_id: str, results_dir: str | None = None
) -> str | None:
    """The data dir as the server recorded it: the ``results_dir`` column
    (Covalent 0.1xx on), else the parent of the dispatch's own
    ``storage_path`` when that ends with the dispatch id (every generation
    lays a dispatch out as ``<data dir>/<dispatch_id>``)."""
    if results_dir:
        return results_dir
    if storage_path:
        normal = posixpath.normpath(storage_path)
        if posixpath.basename(normal) == dispatch_id:
            return posixpath.dirname(normal)
    return None


def relocate(
    recorded: str | None,
    data_dir: str | Path,
    *,
    root: str | None = None,
    dispatch_id: str | None = None,
    tail: str | None = None,
) -> Path | None:
    """``relocate_text`` as a Path."""
    text = relocate_text(recorded, data_dir, root=root, dispatch_id=dispatch_id, tail=tail)
    return None if text is None else Path(text)


def relocate_text(
    recorded: str | None,
    data_dir: str | Path,
    *,
    root: str | None = None,
    dispatch_id: str | None = None,
    tail: str | None = None,
) -> str | None:
    """Map ``recorded`` (then ``tail`` below it: an asset's ``object_key``
    or a ``*_filename``) onto ``data_dir``.

    Tried in order: ``recorded`` below the recorded data dir ``root``; then
    below a path component equal to ``dispatch_id``. None when neither
    applies or the result would leave ``data_dir`` (an absolute tail, ``..``).
    """
    if not recorded:
        return None
    parts = _parts(recorded)
    if parts is None:
        return None
    below: tuple[str, ...] | None = None
    root_parts = _parts(root) if root else None
    if root_parts is not None and parts[: len(root_parts)] == root_parts:
        below = parts[len(root_parts) :]
    elif dispatch_id and dispatch_id in parts:
        # The last occurrence: a data dir could itself sit below a folder
        # named like a dispatch id, the dispatch's folder cannot.
        index = len(parts) - 1 - parts[::-1].index(dispatch_id)
        below = parts[index:]
    if below is None:
        return None
    if tail:
        tail_parts = _relative_parts(tail)
        if tail_parts is None:
            return None
        below = below + tail_parts
    if any(part in ("..", "") for part in below):
        return None
    # A string: a sync maps millions of these, and a Path costs more to
    # make than the mapping itself.
    return os.path.join(data_dir, "/".join(below)) if below else os.fspath(data_dir)


# A server's rows repeat the same few recorded folders (its data dir, each
# dispatch's folder) across dozens of assets per dispatch: split each once.
# Plain string splitting, as PurePosixPath's parts (the root kept as "/" or
# "//"), at a tenth of its cost: a server of 100,000 dispatches relocates
# millions of paths.
@functools.lru_cache(maxsize=8192)
def _parts(path: str) -> tuple[str, ...] | None:
    # Recorded paths are POSIX (Covalent's server runs on Linux and macOS);
    # normalising folds "a/./b" and "a//b" so prefixes compare.
    normal = posixpath.normpath(path)
    if normal == ".":
        return ()
    if normal.startswith("/"):
        rest = normal.lstrip("/")
        root = "//" if len(normal) - len(rest) == 2 else "/"
        parts = (root, *rest.split("/")) if rest else (root,)
    else:
        parts = tuple(normal.split("/"))
    if ".." in parts:
        return None
    return parts


def _relative_parts(tail: str) -> tuple[str, ...] | None:
    # Each dispatch's object keys are its own (its id leads them), so no
    # cache helps; a plain key ("<id>/node_0/results.tobj") is split as is.
    parts = tuple(tail.split("/"))
    if "" not in parts and "." not in parts and ".." not in parts and "\x00" not in tail:
        return parts
    normal = posixpath.normpath(tail)
    if normal.startswith("/") or "\x00" in tail:
        return None
    parts = tuple(part for part in normal.split("/") if part != ".")
    if ".." in parts:
        return None
    return parts
