"""Choosing a backend per root, what each promises, network filesystems
(macOS's statfs decoded from a real struct layout), and the loop's timers.

Platforms are passed in by name: nothing of the OS is mocked, and where a
platform's own facility cannot run here (statfs on macOS) its decoding is
checked on the bytes that facility returns.
"""

from __future__ import annotations

import ctypes
import time
from pathlib import Path

import pytest

from dispatch_indexer.daemon import fsinfo
from dispatch_indexer.daemon.schedule import Timers
from dispatch_indexer.daemon.watch import Backends, EventQueue, FsEvent


@pytest.fixture
def backends() -> Backends:
    chosen = Backends(EventQueue(), max_watches=100)
    yield chosen
    chosen.stop()


def test_auto_on_linux_is_inotify(backends: Backends) -> None:
    backend, why = backends.choose("auto", None)
    assert backend.name == "native" and why.startswith("auto")
    assert backend.promises.close_after_write and backend.promises.caveats() == []


def test_observer_promises_less_and_says_so(backends: Backends) -> None:
    backend, why = backends.choose("observer", None)
    assert (backend.name, why) == ("observer", "configured")
    caveats = " ".join(backend.promises.caveats())
    assert "settle by size and mtime" in caveats and "coalesced" in caveats


def test_a_network_filesystem_is_polled(backends: Backends) -> None:
    backend, why = backends.choose("auto", "network filesystem (nfs4): polled")
    assert backend.name == "polling" and "nfs4" in why
    # Asked for explicitly, events it is (the user knows the writers are local).
    assert backends.choose("native", "network filesystem (nfs4): polled")[0].name == "native"


def test_on_macos_auto_takes_the_observer_and_native_falls_back() -> None:
    backends = Backends(EventQueue(), max_watches=100, platform="darwin")
    try:
        assert backends.preferred() == ["observer", "polling"]
        backend, why = backends.choose("native", None)
        assert backend.name == "observer"
        assert why == "native unavailable (inotify is Linux's; this is darwin)"
        assert backends.choose("auto", None)[0].name == "observer"
    finally:
        backends.stop()


def test_the_observer_queues_the_same_events(backends: Backends, tmp_path: Path) -> None:
    observer = backends.get("observer")
    assert observer.watch(str(tmp_path), recursive=True)
    assert observer.is_watched(str(tmp_path / "any" / "folder"))  # recursive
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "result.pkl").write_bytes(b"x")
    (tmp_path / "d").rename(tmp_path / "e")
    seen: list[FsEvent] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(e.kind == "moved_to" for e in seen):
        backends.events.wait(0.5)
        while not backends.events.empty():
            seen.append(backends.events.get_nowait())
    kinds = {(e.kind, Path(e.path).name, e.is_dir) for e in seen}
    assert ("moved_to", "e", True) in kinds or ("created", "e", True) in kinds, kinds
    observer.unwatch_under(str(tmp_path))
    assert observer.count == 0


# ---- network filesystems -------------------------------------------------------


def _statfs(typename: bytes, flags: int) -> fsinfo._DarwinStatfs:
    buf = fsinfo._DarwinStatfs()
    buf.f_fstypename = typename
    buf.f_flags = flags
    return buf


def test_the_darwin_statfs_layout() -> None:
    # <sys/mount.h>: f_fstypename at 72, the struct 2168 bytes long.
    assert fsinfo._DarwinStatfs.f_fstypename.offset == 72
    assert ctypes.sizeof(fsinfo._DarwinStatfs) == 2168


@pytest.mark.parametrize(
    ("typename", "flags", "remote"),
    [
        (b"apfs", fsinfo.MNT_LOCAL, False),
        (b"smbfs", 0, True),
        (b"nfs", 0, True),
        (b"macfuse", fsinfo.MNT_LOCAL, True),  # sshfs and the like say local
        (b"weirdfs", 0, True),  # not local, whatever it is
    ],
)
def test_darwin_statfs_decoded(typename: bytes, flags: int, remote: bool) -> None:
    info = fsinfo.decode_darwin_statfs(_statfs(typename, flags))
    assert info.type == typename.decode()
    assert info.remote is remote
    said = fsinfo.needs_polling("/Users/me/results", "darwin", info)
    assert (said is not None) is remote


def test_unknown_but_remote_looking_paths_are_polled() -> None:
    unknown = fsinfo.FsInfo(type=None)
    assert fsinfo.needs_polling("/Volumes/share/results", "darwin", unknown) is not None
    assert fsinfo.needs_polling("/Users/me/results", "darwin", unknown) is None
    assert fsinfo.needs_polling("/net/server/results", "linux", unknown) is not None
    autofs = fsinfo.FsInfo(type="autofs")
    assert "autofs" in (fsinfo.needs_polling("/home/me", "linux", autofs) or "")


def test_linux_reads_its_mount_table(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\nserver:/export /mnt/my\\040share nfs4 rw 0 0\n")
    assert fsinfo.filesystem_type("/mnt/my share/results", str(mounts)) == "nfs4"
    assert fsinfo.filesystem_type("/home/me", str(mounts)) == "ext4"
    assert fsinfo.needs_polling(str(tmp_path), "linux") is None  # this machine's tmp


# ---- timers: how a periodic role plugs into the loop ------------------------------


def test_timers_run_when_due_and_say_when_next() -> None:
    timers = Timers()
    runs: list[float] = []
    timers.add("retention", 10.0, runs.append, first=100.0)
    assert timers.next_due() == 100.0
    timers.run_due(99.0)
    assert runs == []
    timers.run_due(100.5)
    assert runs == [100.5] and timers.next_due() == 110.5
    timers.remove("retention")
    assert timers.next_due() is None
