"""Forgetting: folders that vanished, roots removed, records deleted or
hidden, and the roots a host registers.

A folder that vanished is forgotten, and its dispatch falls back to another
copy or, with none left, is marked missing (the record and bytes are kept).
Each host forgets only the roots and locations it found.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import peewee as pw

from . import engine
from .models import REREAD_MTIME_NS
from .scope import Scope, chunks, utcnow
from .write import origin_rank


@dataclass
class _Fallback:
    missing: int = 0
    deleted: int = 0
    reread: list[str] = dataclasses.field(default_factory=list)


def forget_locations(
    scope: Scope, paths: list[str], now: dt.datetime | None = None
) -> tuple[int, list[str]]:
    """Forget folders of this host that are gone.

    Returns how many dispatches became missing, and the folders (on this
    host) of other copies that must be re-read because the copy shown was
    among those gone. When the best copy left is another host's, that host
    is asked to read it again (``reread_requests``) and the record shows
    missing until it has.
    """
    now = now or utcnow()

    def forget() -> tuple[int, list[str]]:
        L, D = scope.tables.Location, scope.tables.Dispatch
        mine = L.host == scope.host
        affected: set[str] = set()
        for chunk in chunks(paths):
            affected.update(
                row[0] for row in L.select(L.dispatch_id).where(mine & L.path.in_(chunk)).tuples()
            )
            L.delete().where(mine & L.path.in_(chunk)).execute()
        gone = set(paths)
        shown: dict[str, str] = {}
        # A record still showing a copy forgotten before (one whose fallback
        # copy, marked for its own root's sync, is among these) falls back too.
        forgotten = ~pw.fn.EXISTS(
            L.select(pw.SQL("1")).where((L.host == D.host) & (L.path == D.path))
        )
        for chunk in chunks(sorted(affected)):
            query = D.select(D.dispatch_id, D.path, forgotten).where(
                D.dispatch_id.in_(chunk) & (D.host == scope.host) & (D.missing == False)  # noqa: E712
            )
            shown.update((i, p) for i, p, lost in query.tuples() if p in gone or lost)
        fallback = _fall_back(scope, shown, now, delete_orphans=False)
        scope.compact_counts()
        return fallback.missing, fallback.reread

    return engine.retrying_transaction(scope.database, forget)


def forget_root(scope: Scope, root: str) -> tuple[int, list[str]]:
    """Drop what this host found under ``root``.

    Returns how many dispatches were deleted, and the folders of copies
    under this host's other roots to re-read for dispatches that were
    shown from here. A dispatch another host also holds is kept, missing
    until that host has read its copy again (see ``forget_locations``).
    """
    now = utcnow()

    def forget() -> tuple[int, list[str]]:
        L, D = scope.tables.Location, scope.tables.Dispatch
        paths = [
            row[0]
            for row in L.select(L.path).where((L.host == scope.host) & (L.root == root)).tuples()
        ]
        shown = dict(
            D.select(D.dispatch_id, D.path)
            .where((D.host == scope.host) & (D.root == root))
            .tuples()
        )
        for chunk in chunks(paths):
            L.delete().where((L.host == scope.host) & L.path.in_(chunk)).execute()
        fallback = _fall_back(scope, shown, now, delete_orphans=True)
        scope.compact_counts()
        return fallback.deleted, fallback.reread

    return engine.retrying_transaction(scope.database, forget)


def _fall_back(
    scope: Scope, shown: dict[str, str], now: dt.datetime, delete_orphans: bool
) -> _Fallback:
    """For dispatches whose shown copy (this host's folder, by id) is gone:
    re-read the best copy left on this host; failing that, ask the host
    of the best copy elsewhere to read it again and show the record as
    missing meanwhile; with no copy anywhere, mark it missing (or delete
    it, with ``delete_orphans``). Each change applies only if the record
    still shows that folder: another host may have just taken it."""
    D, L, B = scope.tables.Dispatch, scope.tables.Location, scope.tables.ResultBlob
    result = _Fallback()
    requests: set[tuple[str, str]] = set()
    lost: list[tuple[str, bool]] = []
    for dispatch_id in sorted(shown):
        best = _best_location(scope, dispatch_id)
        own = best if best is None or best[0] == scope.host else None
        if best is not None and best[0] != scope.host:
            requests.add(best)
            own = _best_location(scope, dispatch_id, host=scope.host)
        if own is not None:
            result.reread.append(own[1])
        else:
            lost.append((dispatch_id, best is None))
    # This host's copies to read are marked too: one of a root that is not
    # walked (a client's cache, a server's data dir) is read by that root's
    # own sync, which sees the mark as a changed stat; a results folder is
    # read at once by the caller (``Scanner``), which clears the mark.
    requests.update((scope.host, path) for path in result.reread)
    # Row locks in the writers' order (see write.apply): locations, then dispatches.
    for host, path in sorted(requests):
        L.update(mtime_ns=REREAD_MTIME_NS).where((L.host == host) & (L.path == path)).execute()
    deleted: list[str] = []
    for dispatch_id, orphan in lost:
        still_shown = (
            (D.dispatch_id == dispatch_id) & (D.host == scope.host) & (D.path == shown[dispatch_id])
        )
        if delete_orphans and orphan:
            if D.delete().where(still_shown).execute():
                deleted.append(dispatch_id)
        else:
            result.missing += (
                D.update(missing=True, updated_at=now)
                .where(still_shown & (D.missing == False))  # noqa: E712
                .execute()
            )
    for chunk in chunks(deleted):
        B.delete().where(B.dispatch_id.in_(chunk)).execute()
    result.deleted = len(deleted)
    return result


def _best_location(
    scope: Scope, dispatch_id: str, host: str | None = None
) -> tuple[str, str] | None:
    """(host, folder) of the best remaining copy of a dispatch (on
    ``host``, if given): the most authoritative (``records.ORIGIN_RANKS``),
    then the most advanced."""
    L = scope.tables.Location
    where = L.dispatch_id == dispatch_id
    if host is not None:
        where &= L.host == host
    return (
        L.select(L.host, L.path)
        .where(where)
        .order_by(origin_rank(L.origin), L.last_event.desc(nulls="LAST"), L.mtime_ns.desc())
        .tuples()
        .first()
    )


def reread_requests(scope: Scope) -> list[str]:
    """This host's folders it is asked to read again (``REREAD_MTIME_NS``):
    another host fell back to them (``_fall_back``)."""
    L = scope.tables.Location
    query = L.select(L.path).where((L.host == scope.host) & (L.mtime_ns == REREAD_MTIME_NS))
    return [row[0] for row in query.tuples()]


def sync_roots(scope: Scope, roots: list[tuple[str, str]], now: dt.datetime | None = None) -> None:
    """Make this host's roots mirror its config: (path, watch) pairs."""
    now = now or utcnow()
    R = scope.tables.Root
    mine = R.host == scope.host
    with scope.database.atomic():
        wanted = {path for path, _ in roots}
        stale = (mine & R.path.not_in(wanted)) if wanted else mine
        R.delete().where(stale).execute()
        for path, watch in roots:
            R.insert(host=scope.host, path=path, watch=watch, added_at=now).on_conflict(
                conflict_target=[R.host, R.path], preserve=[R.watch]
            ).execute()


def delete(scope: Scope, dispatch_ids: list[str]) -> int:
    """Remove records (and their stored bytes and copies); how many."""
    D, L, B = scope.tables.Dispatch, scope.tables.Location, scope.tables.ResultBlob

    def remove() -> int:
        deleted = 0
        for chunk in chunks(dispatch_ids):
            B.delete().where(B.dispatch_id.in_(chunk)).execute()
            L.delete().where(L.dispatch_id.in_(chunk)).execute()
            deleted += D.delete().where(D.dispatch_id.in_(chunk)).execute()
        scope.compact_counts()
        return deleted

    # A statement over many rows takes their locks in the order it meets
    # them, not by id as writers do (see write.apply): it can lose a
    # deadlock with another host's writer, and is then run again.
    return engine.retrying_transaction(scope.database, remove)


def hide(scope: Scope, dispatch_ids: Iterable[str]) -> int:
    """Hide dispatches (Covalent's UI "delete"); how many were shown.

    Deletes no row, stored bytes or file, and a rescan keeps the flag.
    Listings must leave hidden records out unless asked for them (an
    ``include_hidden`` filter, like ``include_missing``); Covalent's UI
    reads the SQLite ``dispatches`` view, which already does.
    """
    D = scope.tables.Dispatch
    ids = sorted(set(dispatch_ids))

    def flag() -> int:
        hidden = 0
        for chunk in chunks(ids):
            hidden += (
                D.update(hidden=True)
                .where(D.dispatch_id.in_(chunk) & (D.hidden == False))  # noqa: E712
                .execute()
            )
        scope.compact_counts()
        return hidden

    # Run again if it loses a deadlock, as ``delete``.
    return engine.retrying_transaction(scope.database, flag)
