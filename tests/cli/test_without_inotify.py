"""Where watchdog cannot load inotify (macOS, a libc without it), every
command works, and the daemon watches through watchdog's own observer:
nothing imports inotify until a root is watched natively.

Simulated as watchdog itself fails there: an import hook (a
``sitecustomize`` on PYTHONPATH) raises ``UnsupportedLibcError`` for
``watchdog.observers.inotify*``. Each command runs in its own process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from ..daemon_helpers import CovalentWriter, DaemonProcess, get, wait_for
from ..realdata import ARITH_240, FAILED_240

pytestmark = pytest.mark.sqlite_only

HOOK = """\
import sys
from importlib.abc import MetaPathFinder


class NoInotify(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith("watchdog.observers.inotify"):
            from watchdog.utils import UnsupportedLibcError

            raise UnsupportedLibcError("this libc has no inotify (simulated)")
        return None


sys.meta_path.insert(0, NoInotify())
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    hook = tmp_path / "no-inotify"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    paths = [str(hook), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "dispatch_indexer", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_the_hook_does_stop_inotify(env: dict[str, str]) -> None:
    probe = "import watchdog.observers.inotify_c"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "UnsupportedLibcError" in done.stderr


def test_every_command_but_the_daemon_works(env: dict[str, str], covalent_server: Path) -> None:
    data = covalent_server / "data"
    for args, expected in (
        (("add-dir", str(data)), "registered"),
        (("scan",), "11 new"),
        (("list",), FAILED_240),
        (("show", ARITH_240), "COMPLETED"),
        (("dirs",), "covalent-data"),
        (("status",), "11 dispatches"),
    ):
        done = run(env, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert expected in done.stdout, (args, done.stdout)


def test_serve_works(env: dict[str, str], covalent_server: Path) -> None:
    assert run(env, "add-dir", str(covalent_server / "data")).returncode == 0
    assert run(env, "scan").returncode == 0
    serve = subprocess.Popen(
        [sys.executable, "-m", "dispatch_indexer", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        assert " on " in line, serve.stderr.read() if serve.stderr else line
        base = line.split(" on ")[1].split()[0].rstrip("/")
        with urllib.request.urlopen(f"{base}/api/v1/dispatches/{ARITH_240}", timeout=30) as answer:
            assert answer.status == 200
            assert json.load(answer)["status"] == "COMPLETED"
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(10)


def test_the_daemon_captures_through_the_observer(
    env: dict[str, str], tmp_path: Path, writer: CovalentWriter
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    assert run(env, "add-dir", str(results)).returncode == 0
    daemon = DaemonProcess(env=env).start()
    try:
        (root,) = json.loads(run(env, "status", "--json").stdout)["roots"]
        assert root["backend"] == "observer", root
        assert root["why"].startswith("auto: native unavailable (inotify cannot load"), root
        assert "polling" not in root["mode"]
        assert any("settle" in caveat for caveat in root["caveats"])
        # A new dispatch, then its RUNNING -> COMPLETED rewrite.
        dispatch_id, folder = writer.new_dispatch(results, final=False)
        assert wait_for(lambda: get(dispatch_id), 5, "the RUNNING record").status == "RUNNING"
        writer.finish(folder)
        wait_for(lambda: get(dispatch_id).status == "COMPLETED", 5, "the COMPLETED record")
        # A move, then a deletion.
        (results / "archive").mkdir()
        moved = results / "archive" / dispatch_id
        folder.rename(moved)
        wait_for(lambda: get(dispatch_id).path == str(moved), 5, "the record to follow the move")
        shutil.rmtree(moved)
        wait_for(lambda: get(dispatch_id).missing, 5, "missing after the deletion")
    finally:
        daemon.stop()
    assert "Traceback" not in daemon.log()


def test_start_and_stop_in_the_background(env: dict[str, str], covalent_server: Path) -> None:
    assert run(env, "add-dir", "--watch", "native", str(covalent_server / "data")).returncode == 0
    started = run(env, "start")
    assert started.returncode == 0, started.stderr
    try:
        report = json.loads(run(env, "status", "--json").stdout)
        (root,) = report["roots"]
        # Asked for inotify, which is not there: the observer, and status says why.
        assert root["backend"] == "observer"
        assert any("native" in d["detail"] for d in report["degraded"]), report["degraded"]
    finally:
        stopped = run(env, "stop")
    assert stopped.returncode == 0, stopped.stderr
    # Nothing indexed is lost.
    assert FAILED_240 in run(env, "list").stdout
