"""Which filesystem a folder is on: network filesystems give no kernel
events for changes made by other machines, so ``watch = "auto"`` polls them.

Linux reads its mount table; macOS (and the BSDs) ask ``statfs(2)``, whose
``f_fstypename`` names the filesystem and whose ``MNT_LOCAL`` flag says
whether it is local, through ctypes. Where neither can tell, a path that
looks remote (``/Volumes/`` on macOS, an automounter's folders) is polled.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform as platform_mod
import sys
from dataclasses import dataclass

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
        "afpfs",
        "webdav",
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
        "macfuse",
        "osxfuse",
        "autofs",  # an automount point not mounted yet: what comes is remote
    }
)

# Where remote filesystems are mounted by convention, for when the
# filesystem cannot be asked: macOS mounts shares under /Volumes (as it does
# external disks, which polling serves well enough) and automounts under
# /Network and /net; Linux's automounter under /net.
REMOTE_LOOKING = {
    "darwin": ("/Volumes", "/Network", "/net"),
    "linux": ("/net",),
}

# <sys/mount.h> on macOS: the filesystem is local.
MNT_LOCAL = 0x00001000
_MFSTYPENAMELEN = 16
_MAXPATHLEN = 1024


class _DarwinStatfs(ctypes.Structure):
    """``struct statfs`` of macOS with 64-bit inodes (the only layout since 10.6
    on x86_64 through ``statfs$INODE64``, and the only one on arm64)."""

    _fields_ = [
        ("f_bsize", ctypes.c_uint32),
        ("f_iosize", ctypes.c_int32),
        ("f_blocks", ctypes.c_uint64),
        ("f_bfree", ctypes.c_uint64),
        ("f_bavail", ctypes.c_uint64),
        ("f_files", ctypes.c_uint64),
        ("f_ffree", ctypes.c_uint64),
        ("f_fsid", ctypes.c_int32 * 2),
        ("f_owner", ctypes.c_uint32),
        ("f_type", ctypes.c_uint32),
        ("f_flags", ctypes.c_uint32),
        ("f_fssubtype", ctypes.c_uint32),
        ("f_fstypename", ctypes.c_char * _MFSTYPENAMELEN),
        ("f_mntonname", ctypes.c_char * _MAXPATHLEN),
        ("f_mntfromname", ctypes.c_char * _MAXPATHLEN),
        ("f_flags_ext", ctypes.c_uint32),
        ("f_reserved", ctypes.c_uint32 * 7),
    ]


@dataclass(frozen=True)
class FsInfo:
    """What is known of the filesystem holding a folder."""

    type: str | None
    # False: the system says it is not local (macOS's MNT_LOCAL); None: not said.
    local: bool | None = None

    @property
    def remote(self) -> bool:
        return self.type in NETWORK_FILESYSTEMS or self.local is False


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


def decode_darwin_statfs(buf: _DarwinStatfs) -> FsInfo:
    """What a macOS ``struct statfs`` says (apart for tests: any buffer)."""
    name = buf.f_fstypename.decode("utf-8", "replace") or None
    return FsInfo(type=name, local=bool(buf.f_flags & MNT_LOCAL))


def _darwin_statfs(path: str) -> FsInfo | None:
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        # x86_64 keeps the 32-bit-inode layout under the plain name.
        name = "statfs$INODE64" if platform_mod.machine() == "x86_64" else "statfs"
        statfs = getattr(libc, name)
    except (OSError, AttributeError):
        return None
    statfs.argtypes = [ctypes.c_char_p, ctypes.POINTER(_DarwinStatfs)]
    statfs.restype = ctypes.c_int
    buf = _DarwinStatfs()
    if statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        return None
    return decode_darwin_statfs(buf)


def filesystem_info(path: str, platform: str = sys.platform) -> FsInfo:
    """The filesystem holding ``path`` on ``platform`` (this one by default)."""
    if platform.startswith("linux"):
        return FsInfo(type=filesystem_type(path))
    if platform == "darwin":
        return _darwin_statfs(path) or FsInfo(type=None)
    return FsInfo(type=None)


def looks_remote(path: str, platform: str = sys.platform) -> bool:
    key = "darwin" if platform == "darwin" else "linux" if platform.startswith("linux") else ""
    real = os.path.realpath(path)
    return any(is_within(real, folder) for folder in REMOTE_LOOKING.get(key, ()))


def needs_polling(
    path: str, platform: str = sys.platform, info: FsInfo | None = None
) -> str | None:
    """Why ``path`` should be polled (its filesystem is remote, or cannot be
    told and looks it), or None."""
    info = info if info is not None else filesystem_info(path, platform)
    if info.remote:
        what = info.type or "not local"
        return f"network filesystem ({what}): polled"
    if info.type is None and looks_remote(path, platform):
        return "filesystem unknown and the path looks remote: polled"
    return None


def wants_polling(path: str) -> bool:
    return needs_polling(path) is not None
