"""Where watchdog cannot load inotify (macOS, a libc without it), every
command that does not watch still works, and ``start`` says in one line why
it cannot: nothing but the daemon imports the watcher.

Simulated as watchdog itself fails there: an import hook (a
``sitecustomize`` on PYTHONPATH) raises ``UnsupportedLibcError`` for
``watchdog.observers.inotify*``. Each command runs in its own process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

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


def test_start_says_why_in_one_line(env: dict[str, str], covalent_server: Path) -> None:
    assert run(env, "add-dir", str(covalent_server / "data")).returncode == 0
    assert run(env, "scan").returncode == 0
    for args in (("start", "--foreground"), ("start",)):
        done = run(env, *args)
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr
        assert "inotify" in done.stderr.strip().splitlines()[-1], done.stderr
    # Nothing indexed is lost.
    assert FAILED_240 in run(env, "list").stdout
