"""Roots by kind: what a folder being registered is, and the one place a
scan picks the sync for each root.

A "results" root is walked by the ``Scanner`` (result.pkl folders); a
"covalent-data" root is synced from its server's database
(``scan.server``). The Scanner must never walk a data dir: finding no
result.pkl there, it would mark every dispatch of it missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from ..config import Config, RootConfig, normalize_root
from ..errors import BadInputError
from ..paths import is_within
from ..read.detect import FolderKind, detect
from ..records import ScanSummary
from ..store.store import Store
from .scanner import ScanInterrupted, Scanner
from .server import SyncInterrupted, sync_server

_NOT_YET = {
    FolderKind.CLIENT_RESULTS: "a Covalent client's results folder",
    FolderKind.DISPATCH_CACHE: "a Covalent client's dispatch cache",
}


def root_for(
    folder: str | os.PathLike[str], watch: str, covalent_db: str | os.PathLike[str] | None = None
) -> RootConfig:
    """The root to register for ``folder``, of the kind found in it. A
    folder with nothing recognisable in it (an empty one) is a results
    folder, as before kinds; a client's folder is refused for now."""
    path = normalize_root(folder)
    database = None
    if covalent_db is not None:
        database = os.path.abspath(os.path.expanduser(os.fspath(covalent_db)))
        if not os.path.isfile(database):
            raise BadInputError(f"no such database file: {covalent_db}")
    found = detect(path, database)
    if found.kind in _NOT_YET:
        raise BadInputError(
            f"{path} looks like {_NOT_YET[found.kind]} ({found.reason}); "
            "indexing that kind of folder is not supported yet"
        )
    if found.kind is FolderKind.DATA_DIR:
        assert found.database is not None  # detect names it for a data dir
        return RootConfig(
            path=str(found.path.resolve()),
            watch=watch,
            kind="covalent-data",
            covalent_db=str(found.database.resolve()),
        )
    if database is not None:
        raise BadInputError(
            f"--covalent-db names a server's database, but {path} is not its data dir "
            f"({found.reason})"
        )
    return RootConfig(path=path, watch=watch)


def scan_roots(
    store: Store,
    config: Config,
    roots: Iterable[str],
    all_roots: Iterable[str],
    make_scanner: Callable[[], Scanner],
    should_stop: Callable[[], bool] | None = None,
    on_server: Callable[[RootConfig, ScanSummary], None] | None = None,
) -> ScanSummary:
    """Scan ``roots`` (paths; an unregistered one is a results folder),
    each by its kind; one summary. ``all_roots`` keeps the walk of a
    results root out of every other root inside it; ``on_server`` hears
    each server sync's own summary (the daemon reports its problems by
    root). Raises ``ScanInterrupted`` if asked to stop."""
    servers: dict[str, RootConfig] = {}
    legacy: list[str] = []
    for path in dict.fromkeys(roots):
        server = _server_holding(config, path)
        if server is None:
            legacy.append(path)
        else:
            # A folder inside a data dir is synced as its whole server:
            # walked for result.pkl files, its dispatches would go missing.
            servers.setdefault(server.path, server)
    summary = ScanSummary()
    if legacy or not servers:
        summary = make_scanner().run(legacy, all_roots)
    for root in servers.values():
        try:
            part = sync_server(store, root, batch_size=config.batch_size, should_stop=should_stop)
        except SyncInterrupted:
            raise ScanInterrupted from None
        if on_server is not None:
            on_server(root, part)
        _add(summary, part)
    return summary


def results_folders(config: Config, folders: Iterable[str]) -> list[str]:
    """The folders the Scanner may read: none inside a server's data dir
    (its copy there is the server sync's to write)."""
    return [f for f in folders if _server_holding(config, f) is None]


def _server_holding(config: Config, path: str) -> RootConfig | None:
    return next(
        (r for r in config.roots if r.kind == "covalent-data" and is_within(path, r.path)), None
    )


def _add(total: ScanSummary, part: ScanSummary) -> None:
    for name in ("new", "updated", "unchanged", "missing", "unreadable", "busy", "seconds"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.errors.extend(part.errors)
