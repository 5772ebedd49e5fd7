"""Logging for the daemon: a rotated file in the log folder, and stderr in
the foreground. Handlers are set here, at the entry point, and nowhere else."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from typing import TextIO

from ..paths import Paths, ensure_private_dir

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(paths: Paths, level: str, *, foreground: bool) -> None:
    ensure_private_dir(paths.log_dir)
    # Create the file ourselves so the log is never world-readable.
    os.close(os.open(paths.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        root.removeHandler(handler)
    # A path that is not UTF-8 is logged escaped rather than failing the write.
    file_handler = _PrivateRotatingFileHandler(
        paths.log_file,
        maxBytes=5 * 1024 * 1024,
        backupCount=3,
        encoding="utf-8",
        errors="backslashreplace",
    )
    file_handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(file_handler)
    if foreground:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(stream)
    # watchdog and peewee are chatty at DEBUG (every watch, every statement
    # with its parameters, result bytes included): our DEBUG is about us.
    for name in ("watchdog", "peewee"):
        logging.getLogger(name).setLevel(max(root.level, logging.INFO))


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every log file it opens, the new one after a rotation included, is
    readable by its owner only (the plain handler would use the umask)."""

    def _open(self) -> TextIO:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)
