"""Make dispatch folders from real ones, for tests and benchmarks.

A clone is a fixture dispatch folder with its 36-character id replaced in
every file's bytes by a fresh uuid of the same length, so each clone is a
valid result naming its own id. ``write_in_place`` saves like Covalent does:
it truncates and rewrites ``result.pkl`` rather than renaming a new file in.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

ID_LENGTH = 36


def read_template(folder: str | os.PathLike[str]) -> tuple[str, dict[str, bytes]]:
    """(dispatch id, {file name: bytes}) of a dispatch folder."""
    path = Path(folder)
    files = {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}
    return path.name, files


def with_new_id(
    template: tuple[str, dict[str, bytes]], new_id: str | None = None
) -> tuple[str, dict[str, bytes]]:
    old_id, files = template
    if len(old_id) != ID_LENGTH:
        raise ValueError(f"template id {old_id!r} is not a {ID_LENGTH}-character uuid")
    new_id = new_id or str(uuid.uuid4())
    old, new = old_id.encode(), new_id.encode()
    return new_id, {name: data.replace(old, new) for name, data in files.items()}


def write_in_place(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` into ``path`` the way Covalent does: truncate, write, close."""
    with open(path, "wb") as fh:
        fh.write(data)


def write_dispatch(
    results_dir: str | os.PathLike[str], dispatch_id: str, files: dict[str, bytes]
) -> Path:
    """Create ``results_dir/dispatch_id`` and write its files, result.pkl first."""
    folder = Path(results_dir) / dispatch_id
    folder.mkdir(parents=True, exist_ok=True)
    order = sorted(files, key=lambda name: (name != "result.pkl", name))
    for name in order:
        write_in_place(folder / name, files[name])
    return folder


def clone(
    template_folder: str | os.PathLike[str],
    results_dir: str | os.PathLike[str],
    new_id: str | None = None,
) -> Path:
    """A copy of a dispatch folder under a fresh id."""
    dispatch_id, files = with_new_id(read_template(template_folder), new_id)
    return write_dispatch(results_dir, dispatch_id, files)
