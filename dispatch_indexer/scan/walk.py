"""Find dispatch folders under a results directory.

A dispatch folder is any folder holding a ``result.pkl``; the walk does not
descend into one (a dispatch folder holds no other dispatches). Hidden
folders are skipped, symlinks are not followed unless asked (and then loops
are cut by remembering each folder's device and inode), and a folder that
cannot be entered is reported, not fatal.
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from ..read.reader import RESULT_FILE
from ..records import FileStat


class Found(NamedTuple):
    folder: str
    stat: FileStat


@dataclass
class WalkReport:
    # Folders that could not be listed: what was under them is unknown, not gone.
    inaccessible: list[str] = field(default_factory=list)
    folders_seen: int = 0


def find_dispatches(
    root: str,
    *,
    max_depth: int = 12,
    follow_symlinks: bool = False,
    exclude: frozenset[str] = frozenset(),
    report: WalkReport | None = None,
    on_folder: Callable[[str], None] | None = None,
) -> Iterator[Found]:
    """Yield every dispatch folder under ``root``, nearly in path order.

    Path order (that of ``sorted`` on the paths, and of the index's path
    column) lets a rescan meet the stored locations as one sorted stream
    (``Store.stored_stats``) instead of holding them all. Each folder's
    entries are taken sorted by name, and only names are held while a folder
    is gone through. The order differs from path order only where a folder
    that holds dispatches has a sibling named as it is plus a character
    that sorts before "/" ("a" and "a-1": "a-1" sorts before "a/x"); the
    rescan's merge is right in any order, and only holds more for it.

    ``root`` itself counts as depth 0; dispatch folders are found down to
    ``max_depth``. Folders in ``exclude`` (other registered roots) are skipped.
    ``on_folder`` is called with each other folder before it is listed (the
    daemon watches it then, so nothing created after the listing is missed).
    """
    report = report if report is not None else WalkReport()
    found = _dispatch_stat(root, follow_symlinks)
    if found is not None:
        yield Found._make((root, found))
        return
    if max_depth <= 0:
        return
    visited: set[tuple[int, int]] = set()
    # Depth-first with an explicit stack (deep trees cannot exhaust
    # recursion): per folder being gone through, its path with a trailing
    # slash, its sorted entries, the depth of those, and an open descriptor
    # of it. Each result.pkl is looked up relative to that descriptor: the
    # kernel then resolves two names per dispatch instead of the whole path,
    # an eighth to a sixth of each lookup under a root six folders deep.
    stack: list[tuple[str, Iterator[str], int, int]] = []
    folder: str | None = root
    depth = 0
    try:
        while True:
            if folder is not None:
                # A folder to list: it holds no result.pkl, and depth < max_depth.
                if on_folder is not None:
                    on_folder(folder)
                    # Its result.pkl may have been written since it was
                    # looked at, before the watch began: look again, now
                    # that anything later is seen. The top folder too: a
                    # folder that just appeared (the daemon's scan of it)
                    # is often written to right then (issue 16's soak).
                    stat = _dispatch_stat(folder, follow_symlinks)
                    if stat is not None:
                        yield Found._make((folder, stat))
                        folder = None
                        continue
                # Below the root, a folder is entered only as the folder it
                # was listed as, never through a symlink put there since.
                entered = _enter(folder, follow_symlinks, depth == 0, visited)
                if entered is None:
                    report.inaccessible.append(folder)
                else:
                    fd, names = entered
                    report.folders_seen += 1
                    prefix = folder if folder.endswith("/") else folder + "/"
                    stack.append((prefix, iter(names), depth + 1, fd))
                folder = None
            if not stack:
                return
            prefix, names, child_depth, fd = stack[-1]
            for name in names:
                path = prefix + name
                if path in exclude:
                    continue
                stat = _dispatch_stat(name, follow_symlinks, fd)
                if stat is not None:
                    yield Found._make((path, stat))
                elif child_depth < max_depth:
                    folder, depth = path, child_depth
                    break
            else:
                stack.pop()
                os.close(fd)
    finally:
        for *_, fd in stack:
            os.close(fd)


_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


def _enter(
    folder: str, follow_symlinks: bool, is_root: bool, visited: set[tuple[int, int]]
) -> tuple[int, list[str]] | None:
    """An open descriptor of ``folder`` and its folders' names; None if it
    cannot be listed."""
    nofollow = 0 if follow_symlinks or is_root else os.O_NOFOLLOW
    try:
        fd = os.open(folder, _FOLDER_FLAGS | nofollow)
    except OSError:
        return None
    try:
        return fd, _folder_names(fd, follow_symlinks, visited)
    except OSError:
        os.close(fd)
        return None


def _folder_names(fd: int, follow_symlinks: bool, visited: set[tuple[int, int]]) -> list[str]:
    """The sorted names of the folders in the open folder ``fd`` (hidden
    ones left out); none if following symlinks has led back to a folder
    already listed."""
    if follow_symlinks:
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        if key in visited:
            return []
        visited.add(key)
    names = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=follow_symlinks):
                    names.append(entry.name)
            except OSError:
                continue
    names.sort()
    return names


_SLASH_RESULT_FILE = "/" + RESULT_FILE


def _dispatch_stat(
    folder: str, follow_symlinks: bool, dir_fd: int | None = None
) -> FileStat | None:
    """The result.pkl of ``folder`` (relative to ``dir_fd``, if given)."""
    # One stat per folder: cheaper than listing every dispatch folder.
    try:
        st = os.stat(folder + _SLASH_RESULT_FILE, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
    except OSError:
        return None
    if not stat_mod.S_ISREG(st.st_mode):
        return None
    return FileStat._make((st.st_size, st.st_mtime_ns, st.st_ino))
