"""The soak's writer process (``soak``): Covalent's saves at a steady rate,
truncate, write, close, as ``dispatch_indexer.corpus.write_in_place`` does;
new finished dispatches, new RUNNING ones finished later (COMPLETED or
FAILED), and the oldest folders deleted to hold the population on disk."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections import deque
from pathlib import Path

from dispatch_indexer.corpus import read_template, with_new_id, write_dispatch, write_in_place
from dispatch_indexer.read.reader import INFO_FILE, RESULT_FILE


def writer(args: argparse.Namespace) -> None:
    """Covalent's saves at a steady rate (truncate, write, close), and the
    deletions that hold the population; then every RUNNING one finished, and
    what is on disk (id: last status) and what was deleted, to ``--out``."""
    plan = json.loads(Path(args.plan).read_text())
    root = Path(plan["root"])
    finished = [(read_template(p), status) for p, status in plan["finished"]]
    running = (read_template(plan["running"][0]), plan["running"][1])
    finals = [(read_template(p), status) for p, status in plan["finals"]]
    on_disk: dict[str, str] = dict(plan["seeded"])  # oldest first
    in_flight: deque[tuple[float, str]] = deque()  # (final save due, id)
    deleted: list[str] = []
    counts = {"finished": 0, "running": 0, "final": 0, "deleted": 0}
    late = 0
    t0, rate, end = plan["t0"], plan["rate"], plan["t0"] + plan["seconds"]
    slot = 0

    def save(dispatch_id: str, template: tuple[str, dict[str, bytes]], names: list[str]) -> None:
        _, files = with_new_id(template, dispatch_id)
        for name in names:
            write_in_place(root / dispatch_id / name, files[name])

    def finish(dispatch_id: str) -> None:
        template, status = finals[counts["final"] % len(finals)]
        save(dispatch_id, template, [RESULT_FILE, INFO_FILE])
        on_disk[dispatch_id] = status
        counts["final"] += 1

    while (due := t0 + slot / rate) < end:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.5:
            late += 1
        now = time.monotonic()
        flying = {i for _, i in in_flight}
        if in_flight and in_flight[0][0] <= now:
            finish(in_flight.popleft()[1])
        elif len(on_disk) >= plan["population"]:
            oldest = next(i for i in on_disk if i not in flying)
            shutil.rmtree(root / oldest)
            del on_disk[oldest]
            deleted.append(oldest)
            counts["deleted"] += 1
        elif (counts["finished"] + counts["running"]) % 3 == 2:
            dispatch_id = with_new_id(running[0])[0]
            (root / dispatch_id).mkdir()
            save(dispatch_id, running[0], [RESULT_FILE, INFO_FILE])
            on_disk[dispatch_id] = running[1]
            in_flight.append((now + plan["running_seconds"], dispatch_id))
            counts["running"] += 1
        else:
            template, status = finished[counts["finished"] % len(finished)]
            dispatch_id, files = with_new_id(template)
            write_dispatch(root, dispatch_id, files)
            on_disk[dispatch_id] = status
            counts["finished"] += 1
        slot += 1
    while in_flight:
        finish(in_flight.popleft()[1])
    report = {"operations": slot, "late_operations": late, **counts}
    report.update(seconds=time.monotonic() - t0, on_disk=on_disk, deleted_ids=deleted)
    Path(args.out).write_text(json.dumps(report))
