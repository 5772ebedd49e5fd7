"""``DispatchIndex``: the library's front door.

Everything the CLI does is a method here, so that a program can do it too::

    from dispatch_indexer import DispatchIndex

    with DispatchIndex() as index:
        index.add_dirs(["./results"])
        print(index.scan().line())
        for record in index.list(limit=10):
            print(record.dispatch_id, record.status)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from . import config as config_mod
from . import paths as paths_mod
from .access import (
    IndexWriter,
    Opened,
    guarded,
    guarded_iteration,
    thread_connection,
    unpickle_trusted,
)
from .config import Config
from .errors import NotFoundError
from .labelling import Labelling
from .records import DispatchRecord, ScanSummary
from .registration import Registration
from .store import stats
from .store.query import DEFAULT_LIMIT, ListQuery, Page

# Scanning, the reader processes and Covalent's config are imported where
# used: reading the index (``list``, ``status``) starts without them.
if TYPE_CHECKING:
    from .read.pool import Reader
    from .scan.scanner import Progress, Scanner
    from .store.changes import Mark
    from .store.notified import NotificationLog

T = TypeVar("T")


class DispatchIndex(Registration, Labelling):
    """An open index: its configuration, its database and its roots.

    Registering roots (``registration``) and labelling records
    (``labelling``) are its base classes' verbs; the rest is here.

    ``url`` chooses the database (else ``COVALENT_INDEXER_DB``, the config
    file, then the default SQLite file); ``home`` puts every file under one
    folder (else ``COVALENT_INDEXER_HOME``, then platformdirs).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
    ) -> None:
        self.paths = paths_mod.resolve(home)
        self.db_override = url
        self._reader: Reader | None = None
        self.config: Config = config_mod.load(self.paths, db_override=url)
        self.url = self.config.database_url(self.paths)
        self._writer = IndexWriter()
        self._open()

    def _open(self) -> None:
        opened = Opened.open(self.url, self.config.host_name)
        # Private: every use goes through a method here, which turns database
        # failures into DatabaseError (the daemon's through ``writer``).
        self._database = opened.database
        self._tables = opened.tables
        self._store = opened.store
        self._writer.attach(opened)

    def reopen(self) -> None:
        """Close and open the database again (creating it if it was deleted)."""
        self._close_database()
        self._open()

    def writer(self) -> IndexWriter:
        """The daemon's hand-off to this index (``access.IndexWriter``): what
        keeping it current needs, with the engine's errors left as they are."""
        return self._writer

    # ---- lifecycle ------------------------------------------------------

    def reader(self) -> Reader:
        """What reads result.pkl files for this index: worker processes
        (see ``read.pool``), started on first use and kept until ``close``."""
        if self._reader is None:
            from .read.pool import make_reader

            config = self.config
            self._reader = make_reader(
                config.reader_processes, config.read_memory_mb, config.read_timeout_seconds
            )
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._close_database()

    def _close_database(self) -> None:
        self._guard(lambda: None if self._database.is_closed() else self._database.close())

    def __enter__(self) -> DispatchIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- scanning -------------------------------------------------------

    def scan(
        self,
        dirs: Iterable[str | os.PathLike[str]] | None = None,
        *,
        progress: Progress | None = None,
    ) -> ScanSummary:
        """Scan the given folders, or every registered root."""
        from .scan import kinds
        from .scan.scanner import Scanner

        if dirs:
            roots = [config_mod.normalize_root(d) for d in dirs]
        else:
            roots = self.config.root_paths()

        def make_scanner() -> Scanner:
            return Scanner(self._store, self.config, progress=progress, reader=self.reader())

        summary = self._guard(
            lambda: kinds.scan_roots(
                self._store, self.config, roots, self.config.root_paths(), make_scanner
            )
        )
        if not roots:
            summary.errors.append("no directories registered; add one with: add-dir PATH")
        return summary

    def refresh(
        self, folder: str | os.PathLike[str], *, source: str = "scan"
    ) -> DispatchRecord | None:
        """Read one dispatch folder (under a registered root) now and record
        it as found by ``source``, without waiting for the file to settle: the
        caller knows it is whole (Covalent's save has returned). The record
        shown for that dispatch, or None if the folder changed while it was
        read (then nothing was recorded)."""
        from .scan.scanner import Scanner

        path = os.fspath(folder)
        config = dataclasses.replace(self.config, settle_seconds=0)
        scanner = Scanner(self._store, config, source=source)

        def read() -> str | None:
            scanner.refresh([path])
            known = self._store.known_locations(path).get(path)
            return None if known is None else known.dispatch_id

        dispatch_id = self._guard(read)
        return None if dispatch_id is None else self.get(dispatch_id)

    def reload_config(self) -> Config:
        """Read the config file again (roots added or removed by other processes)."""
        self.config = config_mod.load(self.paths, db_override=self.db_override)
        self._store.host = self.config.host_name
        return self.config

    @property
    def host(self) -> str:
        """The host this index's roots and records are found by (``Config.host``)."""
        return self._store.host

    # ---- reading --------------------------------------------------------

    def get(self, dispatch_id: str) -> DispatchRecord:
        record = self._guard(lambda: self._store.get(dispatch_id))
        if record is None:
            raise NotFoundError(f"no dispatch with id {dispatch_id!r} in the index")
        return record

    def sub_workflows(self, dispatch_id: str) -> list[tuple[str, int | None]]:
        """The sub-workflows a dispatch ran, as Covalent's database links
        them: (dispatch id, the parent's task that ran it), by task."""
        return self._guard(lambda: self._store.sub_workflows(dispatch_id))

    def list(
        self,
        *,
        status: str | Iterable[str] | None = None,
        results_dir: str | os.PathLike[str] | None = None,
        lattice_name: str | None = None,
        since: dt.datetime | str | None = None,
        until: dt.datetime | str | None = None,
        text: str | None = None,
        include_missing: bool = True,
        tag: str | None = None,
        sort: str | None = None,
        order: str | None = None,
        limit: int | None = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """One page of records, newest first, and ``.next_cursor`` for the next.

        ``status``: one or several statuses; ``results_dir``: dispatches in
        that folder or below; ``lattice_name``: exact workflow name;
        ``since``/``until``: start time range (ISO 8601 or datetime; naive
        means UTC); ``text``: words (prefixes) and "quoted phrases" of the id,
        workflow, location, errors, failing tasks, tags or note
        (``store.fulltext``); ``include_missing``: also dispatches whose
        folder is gone; ``tag``: only those tagged so; ``sort``/``order``:
        ``store.sorting.SORTS``, "asc" or "desc" (default: start_time desc);
        ``limit``: page size (None: everything); ``cursor``: from the
        previous page. Missing and unreadable records are marked on them.
        """
        query = ListQuery.build(
            status=list(status) if status is not None and not isinstance(status, str) else status,
            results_dir=results_dir,
            lattice_name=lattice_name,
            since=since,
            until=until,
            text=text,
            include_missing=include_missing,
            tag=tag,
            sort=sort,
            order=order,
            limit=limit,
            cursor=cursor,
        )
        return self._guard(lambda: self._store.list(query))

    def iterate(self, **filters: object) -> Iterator[DispatchRecord]:
        """Every record matching the filters of ``list``, streamed page by page."""
        query = ListQuery.build(**filters)  # type: ignore[arg-type]
        # A generator: a failure may come at any page, long after this returns.
        return guarded_iteration(self._database, self.url, self._store.iterate(query))

    def follow(self, **options: object) -> Iterator[DispatchRecord]:
        """New and changed records as they are written, until ``stop`` is set
        (``follow.follow``'s options: filters, ``interval``, ``stop``)."""
        from .follow import follow

        return follow(self, **options)  # type: ignore[arg-type]

    def changes(self, after: Mark, limit: int = 500) -> list[DispatchRecord]:
        """Records last written after ``after``, oldest write first (``store.changes``)."""
        from .store import changes

        return self._guard(lambda: changes.since(self._store.scope, after, limit))

    def change_head(self) -> Mark:
        """The change mark after the last record written so far."""
        from .store import changes

        return self._guard(lambda: changes.head(self._store.scope))

    def notification_log(self) -> NotificationLog:
        """What the daemon's notifiers sent and are sending (``store.notified``)."""
        from .store.notified import NotificationLog

        return NotificationLog(lambda: self._database)

    def counts(self) -> dict[str, int]:
        """How many records there are of each status."""
        return self._guard(self._store.counts)

    def counts_by_root(self) -> dict[str, int]:
        """How many records each registered root holds (this host's)."""
        return self._guard(self._store.count_by_root)

    def counts_by_host(self) -> dict[str, int]:
        """How many records each host's copy is shown for (several machines
        can share one index; see ``Config.host``)."""
        return self._guard(self._store.count_by_host)

    def counts_by_host_and_status(self) -> dict[tuple[str, str], int]:
        """Records by (host, status), as ``GET /metrics`` shows them."""
        from .store import breakdown

        return self._guard(lambda: breakdown.by_host_and_status(self._store.scope))

    def disk_use(self) -> tuple[dict[str, int], dict[str, int]]:
        """Bytes in dispatch folders: (this host's by root, every host's)."""
        return self._guard(self._store.disk_use)

    def prune_missing(
        self, older_than_days: float | None = None, *, dry_run: bool = False
    ) -> list[str]:
        """Delete records whose folders are gone (missing for longer than
        ``older_than_days``, if given); the ids (only listed with ``dry_run``).
        ``retention.prune`` does this and more."""
        from . import retention

        found = retention.prune(self, missing=True, older_than=older_than_days, dry_run=dry_run)
        return found.dispatch_ids

    def delete(self, dispatch_ids: Iterable[str]) -> int:
        """Remove records (their stored bytes and copies; no file, no tag or
        note); how many. ``retention.prune`` chooses what to remove."""
        ids = list(dispatch_ids)
        return self._guard(lambda: self._store.delete(ids))

    def load_result(self, dispatch_id: str, *, trust: bool = False) -> object:
        """Unpickle the stored result.pkl into a live Covalent ``Result``.

        Unpickling runs code from the file, so this refuses unless the
        caller passes ``trust=True``, and it needs Covalent importable (the
        pickle refers to its classes). Everything else here reads safely.
        """
        return unpickle_trusted(lambda: self.result_bytes(dispatch_id), trust=trust)

    def result_bytes(self, dispatch_id: str) -> bytes:
        """The stored result bytes (a result.pkl, or a server's result asset),
        never unpickled here."""
        self.get(dispatch_id)
        data = self._guard(lambda: self._store.result_bytes(dispatch_id))
        if data is None:
            raise NotFoundError(f"no result bytes were stored for {dispatch_id!r}")
        return data

    # ---- Covalent's UI --------------------------------------------------

    def result_document(self, dispatch_id: str) -> dict:
        """The document Covalent's UI shows for a dispatch (the shape of
        Covalent 0.110's ``encode_result``), built without running the pickle."""
        from . import browse

        record = self.get(dispatch_id)
        document = self._guard(lambda: self._store.result_document(dispatch_id))
        if document is None and record.origin == "covalent-db":
            from .scan import server

            text = server.server_document(self.config, record)
            document = json.loads(text) if text is not None else None
        if document is None:
            raise NotFoundError(f"no readable result was stored for {dispatch_id!r}")
        return browse.for_covalent_ui(record, document)

    # ---- the dispatch page (``browse``) and the list's charts -------------

    def graph(self, dispatch_id: str) -> dict:
        """A dispatch's header, workflow and task graph."""
        from . import browse

        return browse.graph(self, dispatch_id)

    def node(self, dispatch_id: str, node_id: int | str) -> dict:
        """One task in full: inputs, output, stdout, stderr, error."""
        from . import browse

        return browse.node(self, dispatch_id, node_id)

    def timeline(self, days: int = 90, *, now: dt.datetime | None = None) -> dict:
        """Dispatches per day by status, and their durations, over ``days``
        days up to today: aggregates, no records (``store.stats``)."""
        when = now or dt.datetime.now(dt.timezone.utc)
        return self._guard(lambda: self._store.timeline(stats.check_days(days), when))

    # ---- the connection ---------------------------------------------------

    def connection(self) -> contextlib.AbstractContextManager[None]:
        """A connection of the calling thread's own for one ``with`` block
        (opened if it has none, closed after): for threads that answer
        requests and must leave nothing open (``http.app``)."""
        return thread_connection(self._database, self.url)

    def _guard(self, action: Callable[[], T]) -> T:
        """Database failures become one clear message: ``DatabaseError``."""
        return guarded(self._database, self.url, action)
