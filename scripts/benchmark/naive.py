"""The naive Covalent listing as a contender of the cold build (issue 16):
``naive_listing.py`` run by the python of a venv with the real Covalent
0.110.2 and cloudpickle 3 (``covalent_venv``), which loads every result.pkl
of the tree in one process. Its own timer starts after its imports; the
whole process's wall time is reported beside it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from .common import PACKAGE, log
from .covalent_venv import covalent_python

COVALENT, CLOUDPICKLE = "0.110.2", "3.1.2"
SCRIPT = PACKAGE / "naive_listing.py"


def python(workdir: Path, quick: bool) -> Path | None:
    """The Covalent venv's python; None: the contender is skipped. A quick
    run (the suite's) takes one already built and never builds one: that
    is half a minute from the registry, half the quick run again."""
    return covalent_python(workdir, COVALENT, CLOUDPICKLE, build=not quick)


def run(interpreter: Path, root: Path, expected: int) -> dict[str, Any]:
    """One naive listing of ``root``: its figures, with ``wall_seconds``."""
    t = time.perf_counter()
    # HOME and the XDG folders are the workdir's already (main.isolate):
    # importing Covalent writes its config there, not in the user's home.
    done = subprocess.run(
        [str(interpreter), "-W", "ignore", str(SCRIPT), str(root)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    wall = time.perf_counter() - t
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"the naive listing exited {done.returncode}: {last}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["listed"] + figures["failed"] != expected:
        raise RuntimeError(
            f"the naive listing saw {figures['listed'] + figures['failed']} of {expected}"
        )
    figures["wall_seconds"] = wall
    log(
        f"naive listing: {figures['listed']} listed in {figures['seconds']:.2f}s "
        f"(process {wall:.2f}s, {figures['failed']} failed to load)"
    )
    return figures
