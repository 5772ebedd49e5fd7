"""The naive Covalent listing, run by the python of a venv holding the real
Covalent (``naive``): walk a results tree, ``cloudpickle.load`` every
result.pkl in this one process, and collect each dispatch's id and status,
as a user's script listing their dispatches with Covalent installed would.

Standalone on purpose: it runs in another interpreter, which has Covalent
and cloudpickle but not covalent-indexer. Prints one JSON line: how many it
listed, how many failed to load, and the seconds from after its imports
(importing Covalent, about a second, is timed apart).
"""

from __future__ import annotations

import json
import os
import sys
import time

started = time.perf_counter()
import cloudpickle  # noqa: E402
import covalent  # noqa: E402, F401  (the classes result.pkl names)

imported = time.perf_counter()


def main(root: str) -> None:
    t = time.perf_counter()
    listed: list[tuple[str, str]] = []
    failed = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                path = os.path.join(entry.path, "result.pkl")
                if not os.path.exists(path):
                    stack.append(entry.path)
                    continue
                try:
                    with open(path, "rb") as fh:
                        result = cloudpickle.load(fh)
                    listed.append((result.dispatch_id, str(result.status)))
                except Exception:  # noqa: BLE001  (counted, as a listing would skip it)
                    failed += 1
    seconds = time.perf_counter() - t
    statuses: dict[str, int] = {}
    for _id, status in listed:
        statuses[status] = statuses.get(status, 0) + 1
    print(
        json.dumps(
            {
                "listed": len(listed),
                "failed": failed,
                "seconds": seconds,
                "import_seconds": imported - started,
                "statuses": statuses,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
