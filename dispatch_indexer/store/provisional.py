"""The provisional records of the listing pass (``scan.listing``): written
in batches before any result.pkl is read, replaced by the full reads, and
dropped when their folder vanished unread.
"""

from __future__ import annotations

import os

import peewee as pw

from ..text import storable
from . import engine
from .models import Dispatch
from .scope import Scope, chunks, under_range
from .statements import Batch, slots

# The source of a provisional record: only it has this one.
SOURCE = "listing"
# What a provisional record holds.
_COLUMNS = [
    "dispatch_id", "host", "path", "results_dir", "root", "size", "mtime_ns",
    "inode", "status", "start_time", "end_time", "sort_time", "source",
    "first_seen", "updated_at",
]  # fmt: skip


def listing_only(D: type[Dispatch]) -> pw.Expression:
    """Provisional records: the source a literal in the SQL, so that SQLite
    can use the partial index on it (migration step 6)."""
    return D.source == pw.SQL(f"'{SOURCE}'")


def build_listing(scope: Scope) -> tuple[type[pw.Model], pw.Query]:
    D = scope.tables.Dispatch
    query = D.insert(slots(_COLUMNS)).on_conflict(conflict_target=[D.dispatch_id], action="NOTHING")
    return D, query


def has_locations(scope: Scope, folder: str) -> bool:
    """Whether any folder under ``folder`` is known on this host."""
    L = scope.tables.Location
    query = L.select(pw.SQL("1")).where((L.host == scope.host) & under_range(L.path, folder))
    return query.limit(1).tuples().first() is not None


def listing_batch(scope: Scope, rows: list[dict[str, object]], shared: dict[str, object]) -> Batch:
    """Provisional records bound for ``list_new`` (the Python half of
    writing them, for the thread that made them)."""
    return scope.statement(build_listing).batch(rows, {**shared, "host": scope.host})


def list_new(scope: Scope, batch: Batch) -> int:
    """Write provisional records for dispatches that have no record yet
    (a dispatch with one keeps it), in one transaction; how many."""
    statement = scope.statement(build_listing)

    def write() -> int:
        written = statement.run_batch(batch)
        scope.compact_counts()
        return written

    return engine.retrying_transaction(scope.database, write)


def listed_under(scope: Scope, folder: str) -> list[tuple[str, str]]:
    """(id, folder) of this host's provisional records under ``folder``."""
    D = scope.tables.Dispatch
    query = D.select(D.dispatch_id, D.path).where(
        (D.host == scope.host) & listing_only(D) & under_range(D.path, folder)
    )
    return list(query.tuples())


def drop_listed(scope: Scope, dispatch_ids: list[str]) -> int:
    """Delete these records if they are still provisional; how many."""
    D = scope.tables.Dispatch
    dropped = 0
    with scope.database.atomic():
        for chunk in chunks(dispatch_ids):
            dropped += (
                D.delete()
                .where(D.dispatch_id.in_(chunk) & (D.host == scope.host) & listing_only(D))
                .execute()
            )
    return dropped


def drop_misnamed(scope: Scope, path: str) -> None:
    """The folder was listed under its name, but the pickle names another
    dispatch: the provisional record under the name goes."""
    D = scope.tables.Dispatch
    D.delete().where(
        (D.dispatch_id == storable(os.path.basename(path)))
        & (D.host == scope.host)
        & (D.path == path)
        & listing_only(D)
    ).execute()
