"""The covalent-indexer benchmark (issue 5): every measure beside its baseline.

Usage: ``scripts/bench [--quick] [--n 100000] [--queries-n 1000000] [--repeat 3]
[--workdir DIR] [--json OUT] [--only cold,rescan,live,burst,queries,footprint]``.

One invocation builds (or reuses) a corpus of cloned Covalent 0.110 dispatches,
runs each measure and its baseline in the same run, prints a table (measure |
value | baseline | ratio | target | pass/fail) and writes every figure as JSON
(``<workdir>/bench-results.json``, and ``--json OUT``), with the machine it ran
on. Timed figures are medians over ``--repeat`` runs with their min/max.

Every path it uses is under ``--workdir``; ``COVALENT_INDEXER_HOME``, ``HOME``
and the XDG folders point inside it, so the real home is never touched. The
corpus is cached there between runs, keyed by its size.

The package: ``corpus`` (the cloned dispatches and the baselines of a scan),
one module per measure (``cold``, ``rescan``, ``live``, ``burst``, ``queries``
with ``synthesize``, ``footprint``, ``ingest_pg``), ``run`` (the measures in
order), ``report`` (the table and the JSON), the shared helpers (``common``,
``machine``, ``processes``, ``database``, ``session``), ``options`` and
``main``. Run as ``python scripts/benchmark`` (what ``scripts/bench`` does)
or ``python -m benchmark`` with ``scripts/`` on the path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
VENV = PACKAGE.parent.parent / ".venv"


def _reexec_under_venv() -> None:
    """Run under the repository's .venv when started with another Python."""
    python = VENV / "bin" / "python"
    if not python.exists() or os.environ.get("BENCH_NO_REEXEC"):
        return
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    os.execv(str(python), [str(python), str(PACKAGE), *sys.argv[1:]])


def _import_path() -> None:
    """Started as ``python scripts/benchmark``, Python puts the package's own
    folder first on sys.path, where its modules would be found as top-level
    ones (and shadow any standard module of the same name): the folder above
    it is the one to search."""
    here = [p for p in sys.path if p and Path(p).resolve() == PACKAGE]
    for entry in here:
        sys.path.remove(entry)
    if str(PACKAGE.parent) not in sys.path:
        sys.path.insert(0, str(PACKAGE.parent))


if __name__ == "__main__":
    _reexec_under_venv()
    _import_path()
    from benchmark.main import main

    sys.exit(main(sys.argv[1:]))
