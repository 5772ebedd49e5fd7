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

import os
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TypeVar

from . import config as config_mod
from . import covalent_config
from . import db as db_mod
from . import paths as paths_mod
from .config import Config, RootConfig
from .covalent_config import CovalentResultsDir
from .errors import BadInputError, DatabaseError, NotFoundError
from .migrations import migrate
from .models import bind
from .records import DispatchRecord, RootInfo, ScanSummary
from .scanner import Progress, Scanner
from .store import Store

T = TypeVar("T")


class DispatchIndex:
    """An open index: its configuration, its database and its roots.

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
        self.config: Config = config_mod.load(self.paths, db_override=url)
        self.url = self.config.db or self.paths.default_db_url
        self._open()

    def _open(self) -> None:
        self.database = db_mod.open_database(self.url)
        self.tables = bind(self.database)
        try:
            self.database.connect(reuse_if_open=True)
            migrate(self.database, self.tables)
        except db_mod.engine_errors() as exc:
            self.database.close()
            raise DatabaseError(
                f"cannot open the index at {db_mod.describe(self.url)}: {exc}"
            ) from None
        self.store = Store(self.database, self.tables)

    def reopen(self) -> None:
        """Close and open the database again (creating it if it was deleted)."""
        self.close()
        self._open()

    # ---- lifecycle ------------------------------------------------------

    def close(self) -> None:
        if not self.database.is_closed():
            self.database.close()

    def __enter__(self) -> DispatchIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- roots ----------------------------------------------------------

    def add_dirs(self, dirs: Iterable[str | os.PathLike[str]], watch: str = "auto") -> list[str]:
        """Register results directories; their absolute paths. All or nothing."""
        if watch not in config_mod.WATCH_MODES:
            raise BadInputError(
                f"watch must be one of {', '.join(config_mod.WATCH_MODES)}, not {watch!r}"
            )
        added = [config_mod.normalize_root(d) for d in dirs]
        if not added:
            raise BadInputError("no directory given")
        known = set(self.config.root_paths())
        for path in added:
            if path not in known:
                self.config.roots.append(RootConfig(path=path, watch=watch))
                known.add(path)
        self._save_roots()
        return added

    def add_from_covalent(
        self, watch: str = "auto", *, also: Iterable[str | os.PathLike[str]] = ()
    ) -> tuple[list[str], CovalentResultsDir]:
        """Register the results directory named in Covalent's own config file
        (with the ``also`` directories, all or nothing); what was registered,
        and how Covalent's directory was found."""
        found = covalent_config.find_results_dir()
        return self.add_dirs([*also, found.path], watch=watch), found

    def remove_dir(self, directory: str | os.PathLike[str], *, forget: bool = False) -> int:
        """Unregister a results directory; with ``forget``, drop its records
        too (how many). The directory need not exist any more."""
        path = self._registered(directory)
        self.config.roots = [r for r in self.config.roots if r.path != path]
        self._save_roots()
        if not forget:
            return 0
        forgotten, reread = self._guard(lambda: self.store.forget_root(path))
        # Dispatches also found under another root now show that copy.
        self._guard(lambda: Scanner(self.store, self.config).refresh(reread))
        return forgotten

    def dirs(self) -> list[RootInfo]:
        counts = self._guard(self.store.count_by_root)
        return [
            RootInfo(
                path=r.path,
                watch=r.watch,
                exists=os.path.isdir(r.path),
                records=counts.get(r.path, 0),
            )
            for r in self.config.roots
        ]

    def _registered(self, directory: str | os.PathLike[str]) -> str:
        given = os.path.expanduser(os.fspath(directory))
        candidates = {os.path.abspath(given)}
        if os.path.exists(given):
            candidates.add(os.path.realpath(given))
        for root in self.config.roots:
            if root.path in candidates:
                return root.path
        raise BadInputError(f"not a registered directory: {directory}")

    def _save_roots(self) -> None:
        config_mod.save(self.config, self.paths)
        pairs = [(r.path, r.watch) for r in self.config.roots]
        self._guard(lambda: self.store.sync_roots(pairs))

    # ---- scanning -------------------------------------------------------

    def scan(
        self,
        dirs: Iterable[str | os.PathLike[str]] | None = None,
        *,
        progress: Progress | None = None,
    ) -> ScanSummary:
        """Scan the given folders, or every registered root."""
        if dirs:
            roots = [config_mod.normalize_root(d) for d in dirs]
        else:
            roots = self.config.root_paths()
        scanner = Scanner(self.store, self.config, progress=progress)
        summary = self._guard(lambda: scanner.run(roots, self.config.root_paths()))
        if not roots:
            summary.errors.append("no directories registered; add one with: add-dir PATH")
        return summary

    def reload_config(self) -> Config:
        """Read the config file again (roots added or removed by other processes)."""
        self.config = config_mod.load(self.paths, db_override=self.db_override)
        return self.config

    # ---- reading --------------------------------------------------------

    def get(self, dispatch_id: str) -> DispatchRecord:
        record = self._guard(lambda: self.store.get(dispatch_id))
        if record is None:
            raise NotFoundError(f"no dispatch with id {dispatch_id!r} in the index")
        return record

    def list(
        self, *, status: Iterable[str] | None = None, limit: int | None = None
    ) -> list[DispatchRecord]:
        """Records newest first, missing and unreadable ones included."""
        if limit is not None and limit < 0:
            raise BadInputError("limit must not be negative")
        statuses = [s.upper() for s in status] if status else None
        return self._guard(lambda: self.store.list(status=statuses, limit=limit))

    def result_bytes(self, dispatch_id: str) -> bytes:
        """The stored result.pkl bytes; never unpickled here."""
        self.get(dispatch_id)
        data = self._guard(lambda: self.store.result_bytes(dispatch_id))
        if data is None:
            raise NotFoundError(f"no readable result.pkl was stored for {dispatch_id!r}")
        return data

    # ---- database errors become one clear message ------------------------

    def _guard(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except db_mod.engine_errors() as exc:
            raise DatabaseError(
                f"index database error ({db_mod.describe(self.url)}): {exc}"
            ) from None
