"""How many bytes a dispatch's folder holds (``DispatchRecord.folder_size``).

Measured where the folder is read anyway, so it costs one directory
listing per folder (a result.pkl's folder holds a few files): the sizes
come from the listing's own stat calls, symlinks are counted as links and
never followed, and a folder that changes underneath is measured as found.
"""

from __future__ import annotations

import os

# A dispatch folder deeper than this is not a dispatch folder's shape:
# stop rather than walk someone's whole tree.
MAX_DEPTH = 8


def folder_size(folder: str | os.PathLike[str], depth: int = 0) -> int | None:
    """Bytes in every file under ``folder``; None if it cannot be listed."""
    total = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if depth < MAX_DEPTH:
                            total += folder_size(entry.path, depth + 1) or 0
                    else:
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue  # gone while listed
    except OSError:
        return None
    return total
