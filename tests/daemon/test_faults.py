"""Faults the daemon survives, with real processes and real files: SIGKILL
mid-burst, torn writes, a database deleted, damaged, locked or out of space
under it, readers hammering it, and folder trees that fight back. After each,
nothing that can be read again from disk is missing from the index."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import logging.handlers
import os
import random
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.daemon import logsetup
from dispatch_indexer.daemon.loop import Daemon as InProcessDaemon
from dispatch_indexer.paths import resolve
from dispatch_indexer.store import engine as db_mod

from ..daemon_helpers import CovalentWriter, wait_for
from ..fault_helpers import (
    Daemon,
    configure,
    count,
    database_file,
    integrity,
    python,
    rows,
    rows_if_readable,
    running,
)
from ..realdata import ARITH, FIXTURES


@pytest.fixture
def daemon(tmp_path: Path, results: Path) -> Iterator[Daemon]:
    with running(Daemon(tmp_path / "daemon.stderr")) as process:
        yield process


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def all_completed(ids: list[str]) -> bool:
    found = rows_if_readable()
    return all(i in found and found[i]["status"] == "COMPLETED" for i in ids)


# ---- SIGKILL ------------------------------------------------------------------

BURST = """
    import json, time
    from tests.daemon_helpers import CovalentWriter
    root, total = ARGS[0], int(ARGS[1])
    w = CovalentWriter()
    ids, running = [], []
    for i in range(total):
        # A third go through RUNNING first and finish a little later.
        dispatch_id, folder = w.new_dispatch(root, final=i % 3 != 0)
        ids.append(dispatch_id)
        if i % 3 == 0:
            running.append(folder)
        if len(running) > 25:
            w.finish(running.pop(0))
        if i % 10 == 0:
            time.sleep(0.01)
    for folder in running:
        w.finish(folder)
    print(json.dumps(ids))
"""


def _readworkers_of(home: Path) -> list[int]:
    """Reader processes that belong to this test's index (by environment)."""
    found = []
    marker = f"COVALENT_INDEXER_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"dispatch_indexer.read.worker" not in (entry / "cmdline").read_bytes():
                continue
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.timeout(240)
def test_kill_9_mid_burst_loses_nothing(tmp_path: Path, results: Path, home: Path) -> None:
    total = 5000
    stderr = tmp_path / "daemon.stderr"
    burst = python(BURST, str(results), str(total))
    rng = random.Random(9)
    daemon = Daemon(stderr).start(wait=False)
    kills = 0
    try:
        while kills < 10:
            time.sleep(rng.uniform(0.2, 1.2))
            # Killed at any moment once it runs: scanning, capturing, writing.
            wait_for(daemon.holds_lock, 20, "the daemon to take its lock")
            daemon.kill()
            kills += 1
            daemon = Daemon(stderr).start(wait=False)
        out, _ = burst.communicate(timeout=120)
        assert burst.returncode == 0
        ids = json.loads(out)
        assert len(ids) == total
        daemon.wait_ready(60)
        wait_for(lambda: all_completed(ids), 120, "every dispatch, final")
    finally:
        daemon.stop()
        if burst.poll() is None:
            burst.kill()
    found = rows()
    assert sorted(found) == sorted(ids)  # each exactly once, nothing else
    assert count("location") == total
    for dispatch_id in ids:
        row = found[dispatch_id]
        assert row["unreadable"] is None and not row["missing"], row
        assert row["path"] == str(results / dispatch_id)
        assert row["sha256"] == sha256(results / dispatch_id / "result.pkl")
    assert integrity() == "ok"
    # No reader process outlives the daemon that started it.
    wait_for(lambda: not _readworkers_of(home), 10, "orphaned reader processes to exit")


# ---- torn writes -----------------------------------------------------------------

SLOW_WRITER = """
    import json, time
    from pathlib import Path
    from tests.daemon_helpers import CovalentWriter
    from dispatch_indexer.corpus import with_new_id
    root, count, stall = Path(ARGS[0]), int(ARGS[1]), float(ARGS[2])
    w = CovalentWriter()

    def slow_round(files):
        # Every file opened 'wb' (truncated), then 1 KB each, 50 ms apart,
        # as a slow in-place save does; result_info.yaml is closed half way,
        # which makes the daemon read the torn result.pkl at once.
        handles = {path: open(path, "wb") for path in files}
        longest = max(len(data) for data, _ in files.values())
        for n, offset in enumerate(range(0, longest, 1024)):
            for path, (data, _) in files.items():
                handles[path].write(data[offset:offset + 1024])
                handles[path].flush()
            if n == 1:
                for path, (_, info) in files.items():
                    (path.parent / "result_info.yaml").write_bytes(info)
                time.sleep(stall)
            time.sleep(0.05)
        for handle in handles.values():
            handle.close()

    ids = []
    folders = []
    for _ in range(count):
        dispatch_id, _ = with_new_id(w.running)
        (root / dispatch_id).mkdir()
        ids.append(dispatch_id)
        folders.append(root / dispatch_id)
    for template in (w.running, w.final, w.final):
        files = {}
        for folder in folders:
            _, data = with_new_id(template, folder.name)
            files[folder / "result.pkl"] = (data["result.pkl"], data["result_info.yaml"])
        slow_round(files)
    print(json.dumps(ids))
"""


@pytest.mark.parametrize("stall", [0.0, 0.8], ids=["steady", "stalling"])
def test_slow_in_place_writes_never_leave_a_wrong_record(
    tmp_path: Path, results: Path, stall: float
) -> None:
    """Torn reads are never recorded while the file is still being written
    (steady: modified within ``settle_seconds``); a writer that stalls for
    longer may be recorded unreadable meanwhile, but the close puts it right."""
    configure(settle_seconds=0.3 if stall else 2.0)
    seen: set[tuple[str | None, bool]] = set()
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        writer = python(SLOW_WRITER, str(results), "12", str(stall))
        while writer.poll() is None:
            seen |= {(r["status"], r["unreadable"] is not None) for r in rows().values()}
            time.sleep(0.02)
        ids = json.loads(writer.stdout.read())
        wait_for(lambda: all_completed(ids), 10, "the final records")
        time.sleep(0.5)  # nothing later may spoil them
        found = rows()
        assert daemon.alive()
    for dispatch_id in ids:
        row = found[dispatch_id]
        assert row["status"] == "COMPLETED" and row["unreadable"] is None, row
        assert row["sha256"] == sha256(results / dispatch_id / "result.pkl")
    if not stall:
        assert seen <= {("RUNNING", False), ("COMPLETED", False)}, seen


# ---- the database under attack ---------------------------------------------------


def _checkpoint(db: Path) -> None:
    """Fold the WAL into the file, so that damage to the file is damage to
    the index (a realistic index is mostly in its main file)."""
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _attack(db: Path, how: str) -> None:
    size = db.stat().st_size
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    elif how == "truncated":
        os.truncate(db, size // 2 // 4096 * 4096)  # whole pages: only its header tells
    elif how == "emptied":
        os.truncate(db, 0)
    elif how == "garbage":
        with open(db, "r+b") as fh:  # overwritten in place: same file, same inode
            fh.write(random.Random(1).randbytes(size))
    elif how == "replaced":
        other = db.with_name("other")
        other.write_bytes(random.Random(2).randbytes(size))
        other.replace(db)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["deleted", "truncated", "emptied", "garbage", "replaced"])
def test_a_damaged_database_is_set_aside_and_rebuilt(
    tmp_path: Path, results: Path, writer: CovalentWriter, how: str
) -> None:
    before = [writer.new_dispatch(results)[0] for _ in range(30)]
    db = database_file()
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        _checkpoint(db)
        _attack(db, how)
        during = [writer.new_dispatch(results)[0] for _ in range(5)]
        entry = wait_for(
            lambda: next((d for d in daemon.degraded() if d["what"] == "database"), None),
            15,
            "status to report the database",
        )
        wait_for(lambda: all_completed(before + during), 15, "everything back in the index")
        after, _ = writer.new_dispatch(results)
        wait_for(lambda: all_completed([after]), 5, "live capture into the new index")
        assert daemon.alive()
        aside = sorted(db.parent.glob("index.sqlite3.corrupt-*"))
    assert integrity() == "ok"
    if how == "deleted":
        assert "deleted" in entry["detail"]
        assert aside == []
    else:
        # Moved aside, never deleted: the damaged file is kept for a look.
        assert "corrupt" in entry["detail"] and "moved it aside" in entry["detail"], entry
        assert [p.name for p in aside if not p.name.endswith(("-wal", "-shm"))] == [
            entry["detail"].split("moved it aside to ")[1].split(" ")[0]
        ]
        assert db.exists()


def test_a_corrupt_database_at_start_is_set_aside(
    tmp_path: Path, results: Path, writer: CovalentWriter
) -> None:
    ids = [writer.new_dispatch(results)[0] for _ in range(5)]
    db = database_file()
    db.write_bytes(b"this is not a database" * 1000)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        wait_for(lambda: all_completed(ids), 10, "the rebuilt index")
        assert any("moved it aside" in d["detail"] for d in daemon.degraded())
    aside = [p for p in db.parent.glob("index.sqlite3.corrupt-*")]
    assert len(aside) == 1
    assert aside[0].read_bytes().startswith(b"this is not a database")


LOCKER = """
    import sqlite3, sys, time
    conn = sqlite3.connect(ARGS[0], isolation_level=None, timeout=30)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(float(ARGS[1]))
    conn.execute("COMMIT")
"""


def test_a_lock_held_by_another_process_is_waited_for(
    daemon: Daemon, results: Path, writer: CovalentWriter
) -> None:
    locker = python(LOCKER, str(database_file()), "4")
    assert locker.stdout.readline().strip() == "locked"
    started = time.monotonic()
    ids = [writer.new_dispatch(results)[0] for _ in range(10)]
    reports = []
    while locker.poll() is None:
        reports.append(daemon.degraded())
        time.sleep(0.1)
    assert locker.returncode == 0
    wait_for(lambda: all_completed(ids), 10, "the dispatches written while it was locked")
    assert time.monotonic() - started >= 3.5  # they really waited for the lock
    assert daemon.alive()
    assert all(r == [] for r in reports), reports  # a short lock is not news
    assert not list(database_file().parent.glob("*.corrupt-*"))  # and never corruption


def test_a_lock_that_persists_is_reported_and_then_recovered(
    results: Path, writer: CovalentWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon in this process, waiting 0.3 s rather than 30 for a lock.
    monkeypatch.setattr(db_mod, "BUSY_TIMEOUT_SECONDS", 0.3)
    daemon = InProcessDaemon(DispatchIndex())
    daemon.start()
    try:
        locker = python(LOCKER, str(database_file()), "3")
        assert locker.stdout.readline().strip() == "locked"
        dispatch_id, _ = writer.new_dispatch(results)
        deadline = time.monotonic() + 10
        while not any("locked" in d["detail"] for d in daemon.status()["degraded"]):
            assert time.monotonic() < deadline, daemon.status()
            daemon.loop()
        assert rows().get(dispatch_id) is None
        deadline = time.monotonic() + 15
        while not all_completed([dispatch_id]) or daemon.status()["degraded"]:
            assert time.monotonic() < deadline, daemon.status()
            daemon.loop()
        assert locker.wait(5) == 0
        assert not list(database_file().parent.glob("*.corrupt-*"))
    finally:
        daemon.stop()


# ---- a full disk ------------------------------------------------------------------------


@contextlib.contextmanager
def _small_tmpfs(where: Path) -> Iterator[Path]:
    where.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    return filler


@pytest.mark.parametrize("how", ["ENOSPC", "EFBIG"])
def test_a_full_disk_is_retried_and_caught_up(
    tmp_path: Path,
    results: Path,
    writer: CovalentWriter,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """ENOSPC: the index on a 3 MB tmpfs that fills up. EFBIG: a file size
    limit (``ulimit -f``) set on the running daemon, which must neither die
    of SIGXFSZ nor lose what it could not write."""
    with contextlib.ExitStack() as stack:
        if how == "ENOSPC":
            small = stack.enter_context(_small_tmpfs(tmp_path / "small"))
            monkeypatch.setenv("COVALENT_INDEXER_DB", f"sqlite:///{small}/index.sqlite3")
        before = [writer.new_dispatch(results)[0] for _ in range(10)]
        daemon = stack.enter_context(running(Daemon(tmp_path / "daemon.stderr")))
        wait_for(lambda: all_completed(before), 10, "the first dispatches")
        if how == "ENOSPC":
            filler = _fill(small)
        else:
            limit = 64 * 1024  # every write past 64 KB into any file fails
            hard = resource.RLIM_INFINITY  # raising the hard limit again takes a capability
            resource.prlimit(daemon.pid, resource.RLIMIT_FSIZE, (limit, hard))
        during = [writer.new_dispatch(results)[0] for _ in range(30)]
        entry = wait_for(
            lambda: next((d for d in daemon.degraded() if d["what"] == "database-write"), None),
            40,
            "status to say writing fails",
        )
        assert daemon.alive()
        assert not all_completed(during)
        if how == "ENOSPC":
            assert "full" in entry["detail"], entry
            filler.unlink()
        else:
            unlimited = resource.RLIM_INFINITY
            resource.prlimit(daemon.pid, resource.RLIMIT_FSIZE, (unlimited, unlimited))
        wait_for(lambda: all_completed(before + during), 20, "catching up once there is room")
        wait_for(lambda: daemon.degraded() == [], 10, "the degraded entry to clear")
        assert daemon.alive()
        daemon.stop()
        assert integrity() == "ok"


# ---- readers during a burst ---------------------------------------------------------------

PAGER = """
    import json, time
    from pathlib import Path
    from dispatch_indexer import DispatchIndex
    stop, ready = Path(ARGS[0]), Path(ARGS[1])
    pages = traversals = 0
    errors = []
    with DispatchIndex() as index:
        while not stop.exists():
            seen, cursor = set(), None
            try:
                while True:
                    page = index.list(limit=40, cursor=cursor)
                    pages += 1
                    ready.touch()
                    ids = [r.dispatch_id for r in page]
                    if seen & set(ids):
                        errors.append("a page repeated a record")
                    seen.update(ids)
                    if page:
                        index.get(ids[0])
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                index.counts()
                traversals += 1
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"pages": pages, "traversals": traversals, "errors": errors[:5]}))
"""

HTTP_READER = """
    import json
    from pathlib import Path
    import httpx2 as httpx
    base, stop, ready = ARGS[0], Path(ARGS[1]), Path(ARGS[2])
    pages = 0
    errors = []
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.exists():
            cursor = None
            try:
                while True:
                    params = {"limit": 40} | ({"cursor": cursor} if cursor else {})
                    r = client.get("/api/v1/dispatches", params=params)
                    pages += 1
                    ready.touch()
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                        break
                    body = r.json()
                    if body["dispatches"]:
                        one = body["dispatches"][0]["dispatch_id"]
                        got = client.get(f"/api/v1/dispatches/{one}")
                        if got.status_code != 200:
                            errors.append(f"{got.status_code} {got.text[:200]}")
                    cursor = body["next_cursor"]
                    if cursor is None:
                        break
                for path in ("/api/v1/stats", "/healthz", "/api/v1/dispatches?status=RUNNING"):
                    r = client.get(path)
                    if r.status_code != 200:
                        errors.append(f"{path}: {r.status_code} {r.text[:200]}")
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"pages": pages, "errors": errors[:5]}))
"""


@pytest.mark.timeout(180)
def test_readers_in_tight_loops_during_a_burst(
    tmp_path: Path, daemon: Daemon, results: Path
) -> None:
    serve = subprocess.Popen(
        [sys.executable, "-m", "dispatch_indexer", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    stop = tmp_path / "stop"
    readers: list[subprocess.Popen[str]] = []
    try:
        line = serve.stdout.readline()
        base = line.split(" on ")[1].split()[0].rstrip("/")
        ready = [tmp_path / f"reading-{n}" for n in range(4)]
        readers = [python(PAGER, str(stop), str(ready[n])) for n in range(2)]
        readers += [python(HTTP_READER, base, str(stop), str(ready[n])) for n in range(2, 4)]
        # Every reader in its loop before the burst starts: a reader still
        # importing under load would see the burst's end only.
        wait_for(lambda: all(r.exists() for r in ready), 60, "every reader to read a page")
        burst = python(BURST, str(results), "300")
        out, _ = burst.communicate(timeout=120)
        ids = json.loads(out)
        wait_for(lambda: all_completed(ids), 60, "the burst to be indexed")
    finally:
        stop.touch()
        reports = [json.loads(r.communicate(timeout=60)[0]) for r in readers]
        serve.send_signal(signal.SIGTERM)
        serve.wait(10)
    for report in reports:
        assert report["errors"] == [], report
        assert report["pages"] > 10, report
    assert "locked" not in daemon.log()
    assert daemon.degraded() == []


# ---- awkward trees -------------------------------------------------------------------------


def _ordinary_user() -> list[str]:
    """A command prefix that makes permission bits apply to root too."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]


def test_unreadable_folders_and_files(
    tmp_path: Path, results: Path, writer: CovalentWriter
) -> None:
    hidden_id, _ = writer.new_dispatch(results / "locked")
    secret_id, secret = writer.new_dispatch(results)
    with DispatchIndex() as index:
        index.scan()
    (results / "locked").chmod(0)
    (secret / "result.pkl").chmod(0)
    os.utime(secret / "result.pkl", (1, 1))  # changed: to be read again
    try:
        prefix = _ordinary_user()
        with running(Daemon(tmp_path / "daemon.stderr", prefix=prefix)) as daemon:
            summary = daemon.report()["last_full_scan"]["summary"]
            assert summary["inaccessible"] == 1, summary
            found = rows()
            assert not found[hidden_id]["missing"]  # unknown is not gone
            assert found[secret_id]["status"] == "COMPLETED"  # the good read is kept
            assert "Permission denied" in found[secret_id]["unreadable"]
            late, _ = writer.new_dispatch(results)
            wait_for(lambda: all_completed([late]), 5, "live capture beside them")
            assert daemon.alive()
    finally:
        (results / "locked").chmod(stat.S_IRWXU)
        (secret / "result.pkl").chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_symlink_loops(tmp_path: Path, results: Path, writer: CovalentWriter) -> None:
    configure(follow_symlinks=True)
    inner, _ = writer.new_dispatch(results / "a")
    (results / "a" / "up").symlink_to(results)
    (results / "self").symlink_to(".")
    (results / "a" / "b").mkdir()
    (results / "a" / "b" / "back").symlink_to("../..")
    (results / "dangling").symlink_to(tmp_path / "nowhere")
    (results / "ring1").symlink_to("ring2")
    (results / "ring2").symlink_to("ring1")
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        assert set(rows()) == {inner}
        assert count("location") == 1  # not once more per way round the loop
        late, _ = writer.new_dispatch(results / "a" / "b")
        wait_for(lambda: all_completed([late]), 5, "live capture inside the loops")
        assert daemon.alive()


def test_names_that_are_not_utf8(tmp_path: Path, results: Path, writer: CovalentWriter) -> None:
    """Folder names are bytes; the index stores and shows the bytes that are
    not UTF-8 as ``\\xNN`` escapes (see dispatch_indexer.text), the same on
    every read, so nothing is re-read or marked missing by a rescan."""
    raw = os.fsencode(results)
    parent = raw + b"/r\xe9sultats"
    os.mkdir(parent)
    valid_id, _ = writer.new_dispatch(Path(os.fsdecode(parent)))
    junk = raw + b"/caf\xe9-\xff"
    os.mkdir(junk)
    with open(junk + b"/result.pkl", "wb") as fh:
        fh.write(b"not a pickle")
    os.utime(junk + b"/result.pkl", (1, 1))
    escaped_id = "caf\\xe9-\\xff"
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        live_parent = raw + b"/live-\xfe"
        os.mkdir(live_parent)
        live_id, _ = writer.new_dispatch(Path(os.fsdecode(live_parent)))
        wait_for(lambda: all_completed([valid_id, live_id]), 5, "live capture under the name")
        found = rows()
        assert found[valid_id]["path"] == f"{results}/r\\xe9sultats/{valid_id}"
        assert found[live_id]["path"] == f"{results}/live-\\xfe/{live_id}"
        assert "not a readable pickle" in found[escaped_id]["unreadable"]
        # A rescan by another process finds everything unchanged.
        scan = subprocess.run(
            [sys.executable, "-m", "dispatch_indexer", "scan", "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        summary = json.loads(scan.stdout)
        assert (summary["new"], summary["updated"], summary["missing"]) == (0, 0, 0), summary
        assert summary["unchanged"] == 3
        assert daemon.alive()
    # Shown by the CLI and the HTTP API as stored.
    listed = subprocess.run(
        [sys.executable, "-m", "dispatch_indexer", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {r["dispatch_id"]: r["missing"] for r in json.loads(listed.stdout)} == {
        valid_id: False,
        live_id: False,
        escaped_id: False,
    }
    shown = subprocess.run(
        [sys.executable, "-m", "dispatch_indexer", "show", escaped_id, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(shown.stdout)["path"] == f"{results}/caf\\xe9-\\xff"
    table = subprocess.run(
        [sys.executable, "-m", "dispatch_indexer", "list"], capture_output=True, check=True
    )
    assert b"r\\xe9sultats" in table.stdout
    from fastapi.testclient import TestClient

    from dispatch_indexer.http import create_app

    with DispatchIndex() as index, TestClient(create_app(index)) as client:
        listing = client.get("/api/v1/dispatches").json()["dispatches"]
        assert {d["dispatch_id"] for d in listing} == {valid_id, live_id, escaped_id}
        one = client.get("/api/v1/dispatches/caf%5Cxe9-%5Cxff")
        assert one.status_code == 200 and one.json()["dispatch_id"] == escaped_id
        assert client.get("/api/v1/dispatches/caf%E9").status_code == 404


def _nest(top: Path, levels: int, name: str, dispatches: dict[int, bytes]) -> None:
    """``levels`` folders nested inside ``top`` through directory descriptors,
    so that they can go deeper than PATH_MAX; a result.pkl at some depths."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for depth in range(1, levels + 1):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
            if depth in dispatches:
                os.mkdir("dispatch", dir_fd=fd)
                pkl = os.open("dispatch/result.pkl", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(pkl, dispatches[depth])
                os.close(pkl)
    finally:
        os.close(fd)


def test_very_deep_trees(tmp_path: Path, results: Path) -> None:
    """Folders nested past PATH_MAX (4,096 bytes) and past max_depth: what
    can be reached is indexed, the rest is reported, the daemon stays up."""
    configure(max_depth=200)
    data = (FIXTURES / "results" / ARITH / "result.pkl").read_bytes()
    _nest(results, 150, "d" * 40, {5: data, 60: data, 120: data})
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        found = rows()
        depths = sorted(r["path"].count("/" + "d" * 40) for r in found.values())
        # One dispatch id in three folders: the deepest reachable copy shows.
        assert list(found) == [ARITH]
        assert count("location") == 2  # depths 5 and 60; 120 is beyond PATH_MAX
        assert depths in ([5], [60])
        summary = daemon.report()["last_full_scan"]["summary"]
        assert summary["inaccessible"] >= 1, summary
        assert daemon.alive()


def test_a_root_replaced_by_a_file_or_gone_with_its_parents(
    tmp_path: Path, home: Path, writer: CovalentWriter
) -> None:
    root = tmp_path / "mnt" / "disk" / "results"
    root.mkdir(parents=True)
    with DispatchIndex() as index:
        index.add_dirs([root])
    ids = [writer.new_dispatch(root)[0] for _ in range(3)]
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        stash = tmp_path / "stash"
        shutil.copytree(root, stash)
        # 1. The root becomes a file.
        shutil.rmtree(root)
        root.write_text("not a folder any more")
        wait_for(lambda: all(r["missing"] for r in rows().values()), 5, "missing")
        wait_for(lambda: any(d["what"] == "root" for d in daemon.degraded()), 5, "reported")
        root.unlink()
        shutil.copytree(stash, root)
        wait_for(lambda: not any(r["missing"] for r in rows().values()), 5, "found again")
        # 2. The whole path goes (an unmounted disk) and comes back.
        shutil.rmtree(tmp_path / "mnt")
        wait_for(lambda: all(r["missing"] for r in rows().values()), 5, "missing again")
        shutil.copytree(stash, root)
        wait_for(lambda: not any(r["missing"] for r in rows().values()), 5, "back again")
        wait_for(lambda: daemon.degraded() == [], 5, "recovered")
        late, _ = writer.new_dispatch(root)
        wait_for(lambda: all_completed([*ids, late]), 5, "live capture once it is back")
        assert daemon.alive()


def test_tens_of_thousands_of_entries_in_one_folder(
    tmp_path: Path, results: Path, writer: CovalentWriter
) -> None:
    configure(poll_interval=0.5)
    big = results / "big"
    big.mkdir()
    template = FIXTURES / "results" / ARITH
    ids = [writer.finished_clone(template, big) for _ in range(100)]
    for i in range(20_000):
        (big / f"empty-{i:05d}").mkdir()
    for i in range(10_000):
        (big / f"file-{i:05d}.txt").touch()
    started = time.monotonic()
    with running(Daemon(tmp_path / "daemon.stderr")) as daemon:
        assert time.monotonic() - started < 60
        assert all_completed(ids)
        # More folders than watches (8,192): that root is polled instead, and says so.
        assert [r["mode"] for r in daemon.report()["roots"]] == ["polling"]
        assert any(d["what"] == "watch" for d in daemon.degraded())
        late, _ = writer.new_dispatch(big / "empty-12345")
        wait_for(lambda: all_completed([late]), 10, "a dispatch among them")
        assert daemon.alive()


# ---- private files ---------------------------------------------------------------------------


def test_every_file_the_index_creates_is_private(
    tmp_path: Path, home: Path, writer: CovalentWriter
) -> None:
    """With a umask that hides nothing, every file under the indexer's home
    is 0600 and every folder 0700: config, database with -wal and -shm,
    logs (rotated ones too), lock, pid, status, and a damaged index set aside."""
    os.umask(0)  # restored by the fixture below
    results = tmp_path / "results"
    results.mkdir(mode=0o755)
    subprocess.run(
        [sys.executable, "-m", "dispatch_indexer", "add-dir", str(results)],
        check=True,
        capture_output=True,
    )
    writer.new_dispatch(results)
    daemon = Daemon(tmp_path / "daemon.stderr", preexec_fn=lambda: os.umask(0))
    with running(daemon):
        writer.new_dispatch(results)
        db = database_file()
        db.write_bytes(b"garbage" * 2000)  # replaced in place: moved aside
        wait_for(lambda: list(db.parent.glob("*.corrupt-*")), 10, "the damaged index set aside")
        wait_for(lambda: len(rows_if_readable()) == 2, 10, "the rebuilt index")
        while_running = _modes(home)
    # The log as the daemon rotates it: the new file is as private as the old.
    root_logger = logging.getLogger()
    kept = list(root_logger.handlers)
    logsetup.configure(resolve(), "INFO", foreground=False)
    try:
        for handler in root_logger.handlers:
            if isinstance(handler, logging.handlers.RotatingFileHandler):
                handler.doRollover()
    finally:
        for handler in list(root_logger.handlers):
            root_logger.removeHandler(handler)
            handler.close()
        for handler in kept:
            root_logger.addHandler(handler)
    after = _modes(home)
    names = {p.name for p in while_running} | {p.name for p in after}
    for expected in (
        "config.toml",
        "index.sqlite3",
        "index.sqlite3-wal",
        "index.sqlite3-shm",
        "daemon.log",
        "daemon.log.1",
        "daemon.lock",
        "daemon.pid",
        "daemon-status.json",
    ):
        assert expected in names, names
    assert any(".corrupt-" in n for n in names)
    wrong = {
        str(p): oct(mode)
        for p, mode in {**while_running, **after}.items()
        if mode != (0o700 if p.is_dir() else 0o600)
    }
    assert wrong == {}


def _modes(top: Path) -> dict[Path, int]:
    found = {top: stat.S_IMODE(top.stat().st_mode)}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(folder, name)
            with contextlib.suppress(FileNotFoundError):
                found[path] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)
