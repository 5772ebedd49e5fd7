"""Entry point of a reader process: ``python -m dispatch_indexer.read.worker
MEMORY_BYTES FD``. See ``pool`` for why reading happens out of process."""

from __future__ import annotations

import multiprocessing.connection as mpc
import sys

from .pool import worker_main


def main(argv: list[str]) -> None:
    memory_bytes, fd = int(argv[0]), int(argv[1])
    worker_main(mpc.Connection(fd), memory_bytes)


if __name__ == "__main__":
    main(sys.argv[1:])
