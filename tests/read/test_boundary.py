"""The reading room's boundary: nothing under ``dispatch_indexer/read/``
loads the store, the daemon, the web stack or the CLI, so that a reader
process starts small and fast. Checked in fresh interpreters, where
``sys.modules`` shows what an import really brought in, not what the test
session happened to load already."""

from __future__ import annotations

import json
import multiprocessing.connection as mpc
import socket
import subprocess
import sys
from pathlib import Path

import dispatch_indexer.read
from dispatch_indexer.read.pool import ReadTask
from dispatch_indexer.read.reader import ReadOutcome, expand

from ..realdata import FIXTURES

# The project's rooms a reader has no business in, and the third-party
# packages they bring (each costs a reader ~0.1 s and megabytes to start).
FORBIDDEN = (
    "dispatch_indexer.store",
    "dispatch_indexer.daemon",
    "dispatch_indexer.http",
    "dispatch_indexer.cli",
    "dispatch_indexer.scan",
    "dispatch_indexer.index",
    "dispatch_indexer.integrations",
    "peewee",
    "psycopg",
    "psycopg2",
    "fastapi",
    "starlette",
    "uvicorn",
    "watchdog",
    "typer",
    "click",
)
DEADLINE_SECONDS = 60.0

# Run in a fresh interpreter: import every module of the package, found by
# walking it (so a new module is covered without editing this test), one at
# a time, and say what each import added to sys.modules.
_IMPORT_ALL = """
import importlib, json, pkgutil, sys
import dispatch_indexer.read as package
added = {}
names = [package.__name__]
names += sorted(m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + "."))
for name in names:
    before = set(sys.modules)
    importlib.import_module(name)
    added[name] = sorted(set(sys.modules) - before)
print(json.dumps(added))
"""


def _forbidden(modules: list[str]) -> list[str]:
    """The entries of FORBIDDEN that ``modules`` holds (or a submodule of)."""
    return [
        name for name in FORBIDDEN if any(m == name or m.startswith(name + ".") for m in modules)
    ]


def _offences(added: dict[str, list[str]]) -> list[str]:
    """One line per read module whose import loaded something forbidden,
    naming the read modules that came in with it (one of them is the culprit)."""
    lines = []
    for importing, modules in added.items():
        bad = _forbidden(modules)
        if bad:
            along = [m for m in modules if m.startswith("dispatch_indexer.read")]
            lines.append(
                f"importing {importing} loaded {', '.join(bad)}"
                f" (the read modules it loaded: {', '.join(along) or 'none'})"
            )
    return lines


def test_read_modules_import_nothing_outside_the_reading_room() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL],
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    added: dict[str, list[str]] = json.loads(done.stdout)
    package_dir = Path(dispatch_indexer.read.__file__).parent
    on_disk = {
        "dispatch_indexer.read." + ".".join(p.relative_to(package_dir).with_suffix("").parts)
        for p in package_dir.rglob("*.py")
        if p.name != "__init__.py"
    }
    # The walk found every module there is (a module it missed is unchecked).
    assert on_disk <= set(added), sorted(on_disk - set(added))
    offences = _offences(added)
    assert not offences, "dispatch_indexer/read/ must stay small:\n" + "\n".join(offences)


def _imported_by(importtime: str) -> list[str]:
    """The module names in ``python -X importtime``'s report (stderr)."""
    names = []
    for line in importtime.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.append(name)
    return names


def test_the_reader_worker_imports_nothing_outside_the_reading_room() -> None:
    """The real entry of a reader process, reading every fixture (which
    reaches the imports done only while reading), then told to stop."""
    folders = sorted(p.parent for p in FIXTURES.rglob("result.pkl"))
    assert folders
    ours, theirs = socket.socketpair()
    with ours, theirs:
        process = subprocess.Popen(
            [
                sys.executable,
                "-X",
                "importtime",
                "-m",
                "dispatch_indexer.read.worker",
                "0",
                str(theirs.fileno()),
            ],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        theirs.close()
        conn = mpc.Connection(ours.detach())
        try:
            conn.send([ReadTask(str(f), str(f.parent), "scan", 0.0, 1 << 30) for f in folders])
            for _ in folders:
                assert conn.poll(DEADLINE_SECONDS), "the reader worker did not answer"
                # Sent compact (``reader.compact``), read back whole.
                outcome = expand(conn.recv())
                assert isinstance(outcome, ReadOutcome)
            conn.send(None)
            _, stderr = process.communicate(timeout=DEADLINE_SECONDS)
        finally:
            conn.close()
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, stderr
    imported = _imported_by(stderr)
    assert "dispatch_indexer.read.reader" in imported, "no -X importtime report to check"
    bad = _forbidden(imported)
    assert not bad, (
        f"the reader worker loaded {', '.join(bad)}; dispatch_indexer/read/ must stay small"
    )
