"""Roots by kind: what a folder being registered is, and the one place a
scan picks the sync for each root.

A "results" root is walked by the ``Scanner`` (result.pkl folders); a
"covalent-data" root is synced from its server's database
(``scan.server``); a client's "dispatch-cache" and "client-results" roots
are listed at their top (``scan.client``). The Scanner must never walk a
root of another kind: finding no result.pkl there, it would mark every
dispatch of it missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from ..config import Config, RootConfig, normalize_root
from ..errors import BadInputError, CovalentDbError
from ..read.detect import FolderKind, detect
from ..records import ScanSummary
from ..store.store import Store
from .client import CLIENT_KINDS, ClientSyncInterrupted, refresh_client, sync_client
from .covalent_pg import CovalentPg, is_database_url
from .scanner import ScanInterrupted, Scanner
from .server import SyncInterrupted, sync_server

# The kinds a folder found by ``detect`` is registered as, beside a data dir.
_CLIENT_FOLDERS = {
    FolderKind.CLIENT_RESULTS: "client-results",
    FolderKind.DISPATCH_CACHE: "dispatch-cache",
}


def root_for(
    folder: str | os.PathLike[str], watch: str, covalent_db: str | os.PathLike[str] | None = None
) -> RootConfig:
    """The root to register for ``folder``, of the kind found in it. A
    folder with nothing recognisable in it (an empty one) is a results
    folder, as before kinds."""
    path = normalize_root(folder)
    database = None
    if covalent_db is not None and is_database_url(os.fspath(covalent_db)):
        return _on_postgres(path, watch, os.fspath(covalent_db))
    if covalent_db is not None:
        database = os.path.abspath(os.path.expanduser(os.fspath(covalent_db)))
        if not os.path.isfile(database):
            raise BadInputError(f"no such database file: {covalent_db}")
    found = detect(path, database)
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
    if found.kind in _CLIENT_FOLDERS:
        return RootConfig(path=path, watch=watch, kind=_CLIENT_FOLDERS[found.kind])
    return RootConfig(path=path, watch=watch)


def _on_postgres(path: str, watch: str, url: str) -> RootConfig:
    """A server whose database is PostgreSQL: its data dir (anything but a
    folder of another kind), and a database that answers as Covalent's."""
    found = detect(path)
    if found.kind not in (FolderKind.DATA_DIR, FolderKind.CLIENT_RESULTS, FolderKind.UNKNOWN):
        raise BadInputError(
            f"--covalent-db names a server's database, but {path} is not its data dir "
            f"({found.reason})"
        )
    try:
        CovalentPg(url).schema()
    except CovalentDbError as exc:
        raise BadInputError(str(exc)) from None
    return RootConfig(
        path=str(found.path.resolve()), watch=watch, kind="covalent-data", covalent_db=url
    )


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
    root). The client's caches come last: a copy of a dispatch that went
    from a results folder or a server's data dir during this scan, with
    the client's copy the best one left, is shown before it returns.
    Raises ``ScanInterrupted`` if asked to stop."""
    synced: dict[str, RootConfig] = {}
    legacy: list[str] = []
    for path in dict.fromkeys(roots):
        root = config.synced_root(path)
        if root is None:
            legacy.append(path)
        else:
            # A folder inside a root of another kind is synced as that root:
            # walked for result.pkl files, its dispatches would go missing.
            synced.setdefault(root.path, root)
    summary = ScanSummary()
    if legacy or not synced:
        summary = make_scanner().run(legacy, all_roots)
    servers = [r for r in synced.values() if r.kind == "covalent-data"]
    # A client's downloads before its manifests: the better copy is written
    # first, and a fallback either asks for is read in this same scan.
    clients = sorted(
        (r for r in synced.values() if r.kind in CLIENT_KINDS),
        key=lambda r: CLIENT_KINDS.index(r.kind),
    )
    for root in servers:
        try:
            part = sync_server(store, root, batch_size=config.batch_size, should_stop=should_stop)
        except SyncInterrupted:
            raise ScanInterrupted from None
        if on_server is not None:
            on_server(root, part)
        summary.add(part)
    for root in clients:
        try:
            part = sync_client(
                store,
                root,
                batch_size=config.batch_size,
                settle_seconds=config.settle_seconds,
                max_bytes=config.max_pickle_bytes,
                should_stop=should_stop,
            )
        except ClientSyncInterrupted:
            raise ScanInterrupted from None
        summary.add(part)
    return summary


def reread(store: Store, config: Config, folders: Iterable[str], scanner: Scanner) -> None:
    """Read again the copies ``store.forget_locations`` or ``forget_root``
    named (the copy shown of their dispatch went), each by its root's
    kind. A copy in a server's data dir is left marked for its sync."""
    results: list[str] = []
    clients: dict[str, list[str]] = {}
    for folder in folders:
        root = config.synced_root(folder)
        if root is None:
            results.append(folder)
        elif root.kind in CLIENT_KINDS:
            clients.setdefault(root.path, []).append(folder)
    if results:
        scanner.refresh(results)
    for path, paths in clients.items():
        root = config.root(path)
        assert root is not None  # synced_root found it among the roots
        refresh_client(
            store,
            root,
            paths,
            settle_seconds=config.settle_seconds,
            max_bytes=config.max_pickle_bytes,
        )
