"""The project's exceptions, and the exit code each one maps to.

Library code raises these; the CLI turns them into a one-line message and an
exit code in one place (``cli.IndexerGroup.main``).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1  # the request was understood but cannot be answered
    USAGE = 2  # bad input from the user: a path, an option, a URL
    CONFIG = 3  # the configuration file cannot be read or is invalid
    DATABASE = 4  # the index database cannot be opened or written
    ALREADY_RUNNING = 5  # another daemon already owns this index
    NOT_RUNNING = 6  # the daemon was asked for but is not running
    INTERRUPTED = 130  # Ctrl-C, as shells report a SIGINT death (128 + 2)


class IndexerError(Exception):
    """Base of every error the indexer reports to its users."""

    exit_code: ExitCode = ExitCode.FAILURE


class BadInputError(IndexerError):
    """Something the user gave us (a path, an option value) is not usable."""

    exit_code = ExitCode.USAGE


class UnknownStatusError(BadInputError):
    """A status filter names a status that neither Covalent nor the index has."""


class Interrupted(IndexerError):
    """The user pressed Ctrl-C."""

    exit_code = ExitCode.INTERRUPTED


class NotFoundError(IndexerError):
    """The dispatch (or other object) asked for is not in the index."""

    exit_code = ExitCode.FAILURE


class ConfigError(IndexerError):
    """The configuration file is malformed or holds an invalid value."""

    exit_code = ExitCode.CONFIG


class DatabaseError(IndexerError):
    """The index database cannot be opened, migrated or written."""

    exit_code = ExitCode.DATABASE


class AlreadyRunningError(IndexerError):
    """Another daemon already holds this index's lock."""

    exit_code = ExitCode.ALREADY_RUNNING


class NotRunningError(IndexerError):
    """No daemon is running for this index."""

    exit_code = ExitCode.NOT_RUNNING


class UntrustedDataError(IndexerError):
    """Unpickling was asked for without saying the data is trusted."""

    exit_code = ExitCode.USAGE


class MissingDependencyError(IndexerError):
    """An optional package this operation needs is not installed."""

    exit_code = ExitCode.FAILURE


class CovalentDbError(IndexerError):
    """Covalent's own database cannot be read: missing, not SQLite, or damaged."""

    exit_code = ExitCode.FAILURE


class CovalentDbBusyError(CovalentDbError):
    """Covalent's own database is locked by its writer: try again later."""
