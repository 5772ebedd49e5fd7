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

from .reader import RESULT_FILE, stat_of
from .records import FileStat


@dataclass(frozen=True)
class Found:
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
    """Yield every dispatch folder under ``root``, in sorted order per folder.

    ``root`` itself counts as depth 0; dispatch folders are found down to
    ``max_depth``. Folders in ``exclude`` (other registered roots) are skipped.
    ``on_folder`` is called with each other folder before it is listed (the
    daemon watches it then, so nothing created after the listing is missed).
    """
    report = report if report is not None else WalkReport()
    visited: set[tuple[int, int]] = set()
    # Depth-first with an explicit stack: deep trees cannot exhaust recursion.
    stack: list[tuple[str, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        found = _dispatch_stat(folder, follow_symlinks)
        if found is not None:
            yield Found(folder, found)
            continue
        if depth >= max_depth:
            continue
        if on_folder is not None:
            on_folder(folder)
        try:
            if follow_symlinks:
                st = os.stat(folder)
                key = (st.st_dev, st.st_ino)
                if key in visited:
                    continue
                visited.add(key)
            with os.scandir(folder) as entries:
                children = []
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    try:
                        if not entry.is_dir(follow_symlinks=follow_symlinks):
                            continue
                    except OSError:
                        continue
                    if entry.path in exclude:
                        continue
                    children.append(entry.path)
        except OSError:
            report.inaccessible.append(folder)
            continue
        report.folders_seen += 1
        # Reverse-sorted onto the stack so that they come off in order.
        children.sort(reverse=True)
        stack.extend((child, depth + 1) for child in children)


def _dispatch_stat(folder: str, follow_symlinks: bool) -> FileStat | None:
    # One stat per folder: cheaper than listing every dispatch folder.
    try:
        st = os.stat(os.path.join(folder, RESULT_FILE), follow_symlinks=follow_symlinks)
    except OSError:
        return None
    if not stat_mod.S_ISREG(st.st_mode):
        return None
    return stat_of(st)
