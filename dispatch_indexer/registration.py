"""The verbs that register folders with an index: ``add-dir``,
``add-dir --from-covalent``, ``remove-dir``, ``dirs``.

A part of ``DispatchIndex`` (its base class), kept apart because registering
is its own job: find what kind of root a folder is, keep the config file
and the index's root table in step, and scan what a removal leaves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from . import config as config_mod
from .config import Config, RootConfig
from .errors import BadInputError
from .records import RootInfo

if TYPE_CHECKING:
    from .access import IndexWriter
    from .integrations.covalent_config import CovalentRoots
    from .paths import Paths
    from .read.pool import Reader
    from .store.store import Store

T = TypeVar("T")


class Registration:
    """``DispatchIndex``'s verbs on its roots."""

    if TYPE_CHECKING:  # what DispatchIndex provides
        paths: Paths
        config: Config
        _store: Store
        _writer: IndexWriter

        def _guard(self, action: Callable[[], T]) -> T: ...
        def reader(self) -> Reader: ...
        def counts_by_root(self) -> dict[str, int]: ...
        def disk_use(self) -> tuple[dict[str, int], dict[str, int]]: ...

    def add_dirs(
        self,
        dirs: Iterable[str | os.PathLike[str]],
        watch: str | None = None,
        *,
        covalent_db: str | os.PathLike[str] | None = None,
    ) -> list[str]:
        """Register folders, each as the kind found in it (``scan.kinds``:
        results folders, or a Covalent server's data dir with its database,
        found beside it or named by ``covalent_db``); their absolute paths,
        described by ``config.root(path).describe()``. All or nothing.
        ``watch`` (default ``auto``) is set on a folder registered again only
        when given."""
        from .scan import kinds

        _check_watch(watch)
        found = [kinds.root_for(d, watch or "auto", covalent_db) for d in dirs]
        if not found:
            raise BadInputError("no directory given")
        self._register(found, watch_given=watch is not None)
        return list(dict.fromkeys(r.path for r in found))

    def add_from_covalent(
        self,
        watch: str | None = None,
        *,
        also: Iterable[str | os.PathLike[str]] = (),
        covalent_db: str | os.PathLike[str] | None = None,
    ) -> CovalentRoots:
        """Register the ``also`` directories and every existing folder that
        Covalent's own config names (``integrations.covalent_config``), all or
        nothing; what was registered (``.roots``), left out and why."""
        from .integrations import covalent_config
        from .scan import kinds

        _check_watch(watch)
        extra = [kinds.root_for(d, watch or "auto", covalent_db) for d in also]
        found = covalent_config.roots_from_covalent(watch or "auto")
        found.roots = list({r.path: r for r in [*extra, *found.roots]}.values())
        self._register(found.roots, watch_given=watch is not None)
        return found

    def _register(self, found: list[RootConfig], *, watch_given: bool) -> None:
        for root in found:
            known = self.config.root(root.path)
            if known is None:
                self.config.roots.append(root)
            else:
                # Registered again: what it holds may have been found anew.
                known.kind, known.covalent_db = root.kind, root.covalent_db
                if watch_given:
                    known.watch = root.watch
        self._save_roots()

    def remove_dir(self, directory: str | os.PathLike[str], *, forget: bool = False) -> int:
        """Unregister a results directory; with ``forget``, drop its records
        too (how many). The directory need not exist any more."""
        path = self._registered(directory)
        self.config.roots = [r for r in self.config.roots if r.path != path]
        self._save_roots()
        if not forget:
            return 0
        forgotten, reread = self._guard(lambda: self._store.forget_root(path))
        # Dispatches also found under another root now show that copy.
        from .scan import kinds
        from .scan.scanner import Scanner

        scanner = Scanner(self._store, self.config, reader=self.reader())
        self._guard(lambda: kinds.reread(self._store, self.config, reread, scanner))
        return forgotten

    def dirs(self) -> list[RootInfo]:
        counts = self.counts_by_root()
        sizes, _ = self.disk_use()
        return [
            RootInfo(
                path=r.path,
                watch=r.watch,
                exists=os.path.isdir(r.path),
                records=counts.get(r.path, 0),
                kind=r.kind,
                covalent_db=r.covalent_db,
                bytes=sizes.get(r.path, 0),
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
        self._guard(lambda: self._writer.sync_roots(self.config.roots))


def _check_watch(watch: str | None) -> None:
    if watch is not None and watch not in config_mod.WATCH_MODES:
        modes = ", ".join(config_mod.WATCH_MODES)
        raise BadInputError(f"watch must be one of {modes}, not {watch!r}")
