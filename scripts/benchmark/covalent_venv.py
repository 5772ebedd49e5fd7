"""A venv with the real Covalent, for the contenders that run Covalent itself
(the naive listing, the real server's live latency). Built once per
(version, cloudpickle) by ../shared/tools/covalent-venv.sh and reused.

The cache folder is ``<workdir>/venvs`` unless COVALENT_INDEXER_BENCH_VENVS
names another (so that several workdirs, or the suite's quick runs, can share
one build). A failed build (no registry, no script) answers None: the
contender is then reported as skipped, never as a failure of the run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .common import REPO, log

SCRIPT = Path(
    os.environ.get("COVALENT_VENV_SCRIPT", REPO.parent / "shared" / "tools" / "covalent-venv.sh")
)
BUILD_TIMEOUT = 600.0


def venvs_dir(workdir: Path) -> Path:
    given = os.environ.get("COVALENT_INDEXER_BENCH_VENVS")
    return Path(given) if given else workdir / "venvs"


def covalent_python(
    workdir: Path,
    version: str,
    cloudpickle: str,
    timeout: float = BUILD_TIMEOUT,
    build: bool = True,
) -> Path | None:
    """The python of a venv holding Covalent `version` with `cloudpickle`,
    built now if it is not there yet (given up after `timeout` seconds);
    None when it cannot be built."""
    venv = venvs_dir(workdir) / f"covalent-{version}-cloudpickle-{cloudpickle}"
    python = venv / "bin" / "python"
    ready = venv / ".covalent-ready"
    if ready.exists():
        return python
    if not build:
        log(
            f"no Covalent venv at {venv}: a full run builds one "
            "(COVALENT_INDEXER_BENCH_VENVS may name a folder that holds one)"
        )
        return None
    if not SCRIPT.exists():
        log(f"no Covalent venv: {SCRIPT} is missing")
        return None
    log(f"building a venv with Covalent {version} (cloudpickle {cloudpickle}) in {venv}")
    # pip's cache and any Covalent config stay inside the workdir's scratch home.
    scratch = venv.parent / "build-home"
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(scratch), "XDG_CACHE_HOME": str(scratch / ".cache")}
    try:
        done = subprocess.run(
            ["bash", str(SCRIPT), str(venv), version, cloudpickle],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log(f"no Covalent venv: {exc}")
        return None
    if done.returncode != 0 or not python.exists():
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        log(f"no Covalent venv (exit {done.returncode}): {last}")
        return None
    ready.write_text(done.stdout)
    return python
