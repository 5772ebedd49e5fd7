"""How the library core reaches the index database, behind ``DispatchIndex``.

``DispatchIndex`` is the one way in, and its store and database are private.
This module holds what it needs for that and would make it too long to read
in one sitting:

- ``Opened``: the database open on a URL, its tables and the ``Store`` over
  them (migrated on opening);
- ``guarded`` and ``guarded_iteration``: the engine's errors (peewee's,
  sqlite3's, psycopg's) turned into the project's ``DatabaseError``, so that
  no caller ever meets a raw database traceback;
- ``thread_connection``: a connection of the calling thread's own for one
  block (the HTTP server's request threads);
- ``IndexWriter``: the daemon's hand-off, the one object outside
  ``DispatchIndex`` that holds the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .config import Config, RootConfig
from .errors import DatabaseError, MissingDependencyError, UntrustedDataError
from .records import ScanSummary
from .store import engine as db_mod
from .store.models import SCHEMA_VERSION, Tables, bind, schema_version
from .store.sqlite.checkpoint import defer_checkpoints
from .store.store import KnownLocation, Store

# Scanning and reading are imported where used: reading the index needs neither.
if TYPE_CHECKING:
    import peewee as pw

    from .read.pool import ReadOutcome
    from .scan.scanner import Scanner
    from .store.write import ApplyResult

T = TypeVar("T")


@dataclass(frozen=True)
class Opened:
    """One opened index database: the connection, its tables, the store."""

    url: str
    database: pw.Database
    tables: Tables
    store: Store

    @classmethod
    def open(cls, url: str, host: str) -> Opened:
        """Open (creating and migrating as needed) the database at ``url``."""
        database = db_mod.open_database(url)
        tables = bind(database)
        try:
            database.connect(reuse_if_open=True)
            if schema_version(database, tables.MetaEntry) != SCHEMA_VERSION:
                from .store.migrations import migrate

                migrate(database, tables, host)
        except db_mod.engine_errors() as exc:
            database.close()
            raise DatabaseError(f"cannot open the index at {db_mod.describe(url)}: {exc}") from None
        return cls(url, database, tables, Store(database, tables, host=host))


def failure(database: pw.Database, url: str, exc: BaseException) -> DatabaseError:
    """The project's error for an engine error (the broken connection is
    dropped first, so that the next statement opens a new one)."""
    db_mod.discard_connection(database)
    return DatabaseError(f"index database error ({db_mod.describe(url)}): {exc}")


def guarded(database: pw.Database, url: str, action: Callable[[], T]) -> T:
    """``action()``, with the engine's errors turned into ``DatabaseError``."""
    try:
        try:
            return action()
        except db_mod.engine_errors() as exc:
            # A connection to a database server that broke (the server
            # restarted since it was opened) is dropped, and the action
            # tried once more on a new one: every action given here is a
            # read or an idempotent write.
            if not db_mod.connection_lost(exc) or database.in_transaction():
                raise
            db_mod.discard_connection(database)
            return action()
    except db_mod.engine_errors() as exc:
        raise failure(database, url, exc) from None


def guarded_iteration(database: pw.Database, url: str, items: Iterator[T]) -> Iterator[T]:
    """``items``, with the engine's errors turned into ``DatabaseError``
    wherever in the iteration they happen. Not retried: what was already
    yielded cannot be taken back."""
    try:
        yield from items
    except db_mod.engine_errors() as exc:
        raise failure(database, url, exc) from None


@contextlib.contextmanager
def thread_connection(database: pw.Database, url: str) -> Iterator[None]:
    """The calling thread's own connection for one block: opened if the
    thread has none (peewee keeps one per thread) and closed again after, so
    that threads share nothing and leave nothing open."""
    opened = False
    if database.is_closed():
        try:
            database.connect(reuse_if_open=True)
        except db_mod.engine_errors() as exc:
            raise DatabaseError(f"cannot open the index at {db_mod.describe(url)}: {exc}") from None
        opened = True
    try:
        yield
    finally:
        if opened and not database.is_closed():
            database.close()


class IndexWriter:
    """What the daemon needs to keep an index current, handed over by
    ``DispatchIndex.writer()``.

    The daemon is the one process that writes all the time. It needs more
    than the public methods give (the stat of what is known about a folder,
    the folders still being written, the connection itself), and it needs the
    engine's errors as they are: it tells a damaged file from a full disk or
    a lost server by them, and rebuilds, retries or reconnects accordingly.
    So nothing here turns errors into ``DatabaseError``.

    The writer follows its index: ``DispatchIndex`` attaches it to the
    database each time it opens one (``reopen`` included).
    """

    def __init__(self) -> None:
        self._opened: Opened | None = None

    def attach(self, opened: Opened) -> None:
        """Write to ``opened`` from now on (called by ``DispatchIndex``)."""
        self._opened = opened

    @property
    def _store(self) -> Store:
        if self._opened is None:
            raise DatabaseError("the index is not open")
        return self._opened.store

    # ---- writing --------------------------------------------------------

    def apply(self, outcomes: Iterable[ReadOutcome]) -> ApplyResult:
        """Write one batch of reads in one transaction."""
        return self._store.apply(outcomes)

    def forget_locations(self, paths: list[str]) -> tuple[int, list[str]]:
        """These folders are gone: (records now missing, folders of another
        copy to read again)."""
        return self._store.forget_locations(paths)

    def compact_counts(self) -> bool:
        """Fold the count table's log now if it is long (``store.counters``):
        for rows written around the store, as the benchmark's bulk load does."""
        return self._store.compact_counts()

    def sync_roots(self, roots: Iterable[RootConfig]) -> None:
        """Make the index's table of roots match the configured ones."""
        self._store.sync_roots([(r.path, r.watch) for r in roots])

    def scanner(self, config: Config, **options: object) -> Scanner:
        """A scanner writing to this index (``Scanner``'s options)."""
        from .scan.scanner import Scanner

        return Scanner(self._store, config, **options)  # type: ignore[arg-type]

    def scan_roots(
        self,
        config: Config,
        roots: list[str],
        all_roots: list[str],
        make_scanner: Callable[[], Scanner],
        should_stop: Callable[[], bool] | None = None,
        on_server: Callable[[RootConfig, ScanSummary], None] | None = None,
    ) -> ScanSummary:
        """Scan roots, each by its kind (``scan.kinds.scan_roots``)."""
        from .scan import kinds

        return kinds.scan_roots(
            self._store,
            config,
            roots,
            all_roots,
            make_scanner,
            should_stop=should_stop,
            on_server=on_server,
        )

    def sync_server(self, root: RootConfig, **options: Any) -> ScanSummary:
        """Sync one Covalent server's root (``scan.server.sync_server``'s
        options: a cursor for incremental syncs, named dispatches)."""
        from .scan import server

        return server.sync_server(self._store, root, **options)

    # ---- what the index knows ---------------------------------------------

    def known_locations(self, folder: str) -> dict[str, KnownLocation]:
        """Every folder at or under ``folder`` this host has recorded, with its stat."""
        return self._store.known_locations(folder)

    def unsettled_paths(self, under: str) -> list[str]:
        """Folders under ``under`` whose dispatch may still change."""
        return self._store.unsettled_paths(under)

    def reread_requests(self) -> list[str]:
        """Folders of this host's that another host asked to have read again."""
        return self._store.reread_requests()

    # ---- the connection -------------------------------------------------

    @property
    def _database(self) -> pw.Database:
        if self._opened is None:
            raise DatabaseError("the index is not open")
        return self._opened.database

    def ping(self) -> None:
        """One cheap statement: raises if the database does not answer."""
        db_mod.ping(self._database)

    def drop_connection(self) -> None:
        """Drop this thread's connection; the next statement opens another."""
        db_mod.discard_connection(self._database)

    def defer_checkpoints(self) -> None:
        """SQLite: leave WAL checkpoints to a ``Checkpointer`` of its own."""
        defer_checkpoints(self._database)

    def close(self) -> None:
        """Close the connection, whatever state the file is in (it may be
        gone or damaged: a close that fails must not stop a reopen)."""
        with contextlib.suppress(Exception):
            self._database.close()


def unpickle_trusted(fetch: Callable[[], bytes], *, trust: bool) -> object:
    """``DispatchIndex.load_result``: the bytes ``fetch`` gives, unpickled,
    only for a caller who said ``trust=True`` and with Covalent importable
    (the pickle names its classes). The one place a pickle is loaded for
    real; everything else reads through ``read.safepickle``."""
    if trust is not True:
        raise UntrustedDataError(
            "refusing to unpickle: loading a result runs code from the file; "
            "pass trust=True if you trust where it came from"
        )
    try:
        import covalent  # noqa: F401 - the pickle names its classes
    except ImportError:
        raise MissingDependencyError(
            "loading a result needs Covalent installed (pip install covalent)"
        ) from None
    data = fetch()
    import pickle

    # The one trusted opt-in path: the caller said trust=True above.
    return pickle.loads(data)  # noqa: S301
