"""The real Covalent fixtures the tests read: where they are, and the dispatches in them.

The fixtures (``../shared/fixtures/covalent-0.110``, or
``$COVALENT_INDEXER_FIXTURES``) were written by the real Covalent 0.110.2;
``manifest.json`` beside them says what Covalent's own API reported for each.
Tests copy them before changing anything (``conftest.corpus``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(
    os.environ.get("COVALENT_INDEXER_FIXTURES", REPO.parent / "shared/fixtures/covalent-0.110")
)
# The fixtures' results folders, each registered as a root by the tests.
ROOT_NAMES = ("results", "results-alt", "snapshots")

# Dispatch ids, named for their workflow (manifest.json).
ARITH = "0eca0b3a-7ac9-491c-9e55-d822e064a9b5"  # COMPLETED, 5 nodes, result 6
ARITH_AGAIN = "62a15c2b-266f-4d44-8664-afbb941f0634"  # the same workflow dispatched again
FAILED = "4ab0cfe3-f39a-4d95-8a19-0bb2b49f379d"  # "broken": FAILED, with an error
OUTER = "b7d7ed9a-d825-474c-9704-6e24e01447f4"  # a workflow with a sublattice...
INNER = "8b37c9ed-329a-460b-8267-0eeb31596ab9"  # ...which Covalent dispatched on its own
HEAVY = "e7e2d776-ed5f-43f9-946b-a447177914df"  # a 3 MB result
NUMERIC = "8da86192-56a7-4368-b7e6-2706f31cfdca"  # a numpy array result
CUSTOM = "594ec3b1-896a-4b15-be5f-3bf672513aaf"  # an instance of the user's own class
ELSEWHERE = "2d5e6b91-bad0-405f-b6c9-60c418b20ddc"  # in results-alt/nested/deeper
SLEEPY = "42b32010-da33-432a-bafb-238e0a43bc78"  # also in snapshots/running, RUNNING

# Covalent 0.240's state (../shared/fixtures/covalent-0.240, README there):
# the server's database and data dir, the client's caches, a database copy
# taken while dispatches ran, and what Covalent's API reported (manifest.json).
FIXTURES_240 = Path(
    os.environ.get("COVALENT_INDEXER_FIXTURES_240", REPO.parent / "shared/fixtures/covalent-0.240")
)
SERVER_DB_240 = FIXTURES_240 / "server/dispatcher_db.sqlite"
SERVER_DATA_240 = FIXTURES_240 / "server/data"
RUNNING_DB_240 = FIXTURES_240 / "running/dispatcher_db.sqlite"
CLIENT_DISPATCHES_240 = FIXTURES_240 / "client/dispatches"
CLIENT_RESULTS_240 = FIXTURES_240 / "client/results"
REVISION_240 = "7e9fb153ecfb"

# Dispatch ids of the 0.240 fixture, named for their workflow (manifest.json).
ARITH_240 = "68341745-f56a-4014-9f05-b07ec42f497d"  # COMPLETED, 6 tasks, result 6
FAILED_240 = "564c6446-c6b4-4127-8be8-ac0da370b620"  # "broken": FAILED in task 0 "fail"
OUTER_240 = "4814c297-ccca-4f64-a678-895f6300f6ab"  # runs "inner" as its task 0...
INNER_240 = "e3d52b8d-d3b4-4b46-b39f-2dca9b50b08d"  # ...a sub-dispatch of its own
HEAVY_240 = "30382443-c33a-4b99-9839-015090cd9b5b"  # an 800 kB bytes result
NUMERIC_240 = "0727a367-de62-4268-b906-5961c59102ea"  # a numpy array result
SLEEPY_240 = "7912ecc3-db59-4dad-b408-91fd25e9fe64"  # RUNNING in running/
CANCELLED_240 = "f3b781a0-4cc4-4ae9-99e2-0d2cf9d2dbac"  # "sleepy" again, cancelled


@contextlib.contextmanager
def covalent_mid_commit(database: Path) -> Iterator[None]:
    """Covalent's server inside a commit to ``database``: its exclusive lock
    held (in rollback-journal mode that shuts every reader out) over a change
    of ARITH_240 to CANCELLED, committed when the block ends."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute(
            "UPDATE lattices SET status = 'CANCELLED', updated_at = '2026-12-01 00:00:00'"
            " WHERE dispatch_id = ?",
            (ARITH_240,),
        )
        yield
        conn.execute("COMMIT")
    finally:
        conn.close()
