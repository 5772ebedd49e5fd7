"""A dispatch folder's size: every file under it, links counted as links and
never followed, nothing deeper than MAX_DEPTH, None for what cannot be listed."""

from __future__ import annotations

import os
from pathlib import Path

from dispatch_indexer.read.disksize import MAX_DEPTH, folder_size


def test_files_nested_folders_and_links(tmp_path: Path) -> None:
    folder = tmp_path / "dispatch"
    (folder / "node_0" / "deeper").mkdir(parents=True)
    (folder / "result.pkl").write_bytes(b"x" * 1000)
    (folder / "node_0" / "stdout.log").write_bytes(b"y" * 20)
    (folder / "node_0" / "deeper" / "z").write_bytes(b"z" * 3)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"b" * 100_000)
    (folder / "link-to-folder").symlink_to(outside)
    (folder / "link-to-file").symlink_to(outside / "big")
    links = sum(os.lstat(folder / name).st_size for name in ("link-to-folder", "link-to-file"))
    assert folder_size(folder) == 1023 + links
    # A link given as the folder itself is followed: it names the folder.
    (tmp_path / "named").symlink_to(folder)
    assert folder_size(tmp_path / "named") == 1023 + links


def test_depth_is_bounded(tmp_path: Path) -> None:
    deep = tmp_path / "dispatch"
    path = deep
    for level in range(MAX_DEPTH + 3):
        path = path / f"d{level}"
    path.mkdir(parents=True)
    (path / "f").write_bytes(b"f" * 7)
    (deep / "top").write_bytes(b"t" * 5)
    assert folder_size(deep) == 5


def test_what_cannot_be_listed(tmp_path: Path) -> None:
    assert folder_size(tmp_path / "missing") is None
    (tmp_path / "file").write_bytes(b"x")
    assert folder_size(tmp_path / "file") is None
