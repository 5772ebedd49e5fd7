"""Which filesystem a folder is on: network filesystems give no inotify
events for changes made by other machines, so ``watch = "auto"`` polls them."""

from __future__ import annotations

import os

from ..paths import is_within

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "lustre",
        "gpfs",
        "beegfs",
        "fuse.sshfs",
        "fuse.glusterfs",
        "glusterfs",
        "ceph",
        "fuse.ceph",
        "pvfs2",
        "fuse.s3fs",
        "fuse.rclone",
        "panfs",
        "davfs",
        "fuse.davfs2",
    }
)


def _unescape(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_type(path: str, mounts_file: str = "/proc/self/mounts") -> str | None:
    """The type of the filesystem holding ``path`` (longest mount point match)."""
    try:
        with open(mounts_file, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount_point, fs_type = _unescape(parts[1]), parts[2]
        if is_within(real, mount_point):
            if best is None or len(mount_point) > best[0]:
                best = (len(mount_point), fs_type)
    return best[1] if best else None


def wants_polling(path: str) -> bool:
    return filesystem_type(path) in NETWORK_FILESYSTEMS
