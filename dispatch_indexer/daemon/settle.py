"""Settling: a ``result.pkl`` that changed where the backend reports no close
after a write (FSEvents, watchdog's polling observer) is read once it holds
still, not at the first notice, when its writer may be halfway through.

Looked at every ``SETTLE_STEP``: read when its size and mtime are the same
as at the last look, or at once when its mtime is ``SETTLE_QUIET`` old
already (a coalescing backend reports late, and a file untouched that long
is not being written). Only the daemon's ``Schedule`` is changed here.
"""

from __future__ import annotations

import logging
import os
import time

from ..read.reader import RESULT_FILE
from .schedule import Schedule

log = logging.getLogger(__name__)

SETTLE_STEP = 0.1
SETTLE_QUIET = 0.25


def settle_due(work: Schedule, now: float) -> None:
    """The folders due for a look: read the ones that hold still, look at
    the others again a step later."""
    for folder in work.due(work.settle, now):
        try:
            st = os.stat(os.path.join(folder, RESULT_FILE))
        except OSError:
            work.read_at(folder, now)  # gone, or not there yet: the read says which
            continue
        seen = (st.st_size, st.st_mtime_ns)
        quiet = time.time() - st.st_mtime >= SETTLE_QUIET
        if quiet or work.seen.get(folder) == seen:
            log.debug("settle %s: read now (%s)", folder, "quiet" if quiet else "held still")
            work.seen.pop(folder, None)
            work.read_at(folder, now)
        else:
            log.debug("settle %s: still changing, look again", folder)
            work.seen[folder] = seen
            work.settle_at(folder, now + SETTLE_STEP)
