"""The store: the one object an index writes and reads its tables through.

``Store`` holds no logic of its own; each method is one of the store's
modules, by job:

- ``write``: a batch of reads written in one transaction;
- ``forget``: folders and roots gone, records deleted or hidden, roots;
- ``provisional``: the listing pass's provisional records;
- ``bulk``: a first scan of a big directory, its indexes made once at its end;
- ``read``: records, pages, counts, and what a scan compares the disk with.

The rules that keep the index right, across those modules:

- a dispatch found in several folders shows the most authoritative copy
  (``records.ORIGIN_RANKS``: a server's database or a result.pkl, then a
  client's download, then its manifest), and of those the most recently
  written;
- a read that failed never overwrites data from an earlier good read;
- a folder that vanished is forgotten, and its dispatch falls back to the
  best copy left or, with none left, is marked missing (the record and bytes
  are kept); a copy in a root that is not walked is read by that root's sync;
- each host (machine) owns the roots and locations it found: it reads,
  updates and forgets only those, and takes a record from another host only
  by the rule above (see ``Scope.host``);
- every write is an upsert that decides for itself, against the row as
  committed, whether it replaces what is shown, so that several writers at
  once (daemons of several hosts on one PostgreSQL server) give the result
  one writer would (see ``write.apply``).
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import peewee as pw

from ..config import default_host
from ..records import DispatchRecord
from . import counters, read, stats, tags
from .models import Tables
from .query import ListQuery, Page, check_statuses
from .read import KnownLocation, StoredStat
from .scope import Scope, utcnow

if TYPE_CHECKING:  # the reader modules load in the processes that read
    from ..read.reader import ReadOutcome
    from . import bulk, forget, provisional, write
    from .statements import Rows
    from .write import ApplyResult


class _OnFirstUse:
    """A module of the write side, imported when first used: a command that
    only reads the index (``list``, ``show``) never loads it, a twentieth of
    its start."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module: ModuleType = importlib.import_module(f"{__package__}.{self._name}")
        globals()[self._name] = module  # later calls find the module itself
        return getattr(module, attr)


if not TYPE_CHECKING:
    bulk = _OnFirstUse("bulk")
    forget = _OnFirstUse("forget")
    provisional = _OnFirstUse("provisional")
    write = _OnFirstUse("write")

__all__ = ["KnownLocation", "Store", "StoredStat", "utcnow"]


class Store:
    def __init__(self, database: pw.Database, tables: Tables, *, host: str | None = None) -> None:
        self.scope = Scope(database, tables, host or default_host())

    @property
    def database(self) -> pw.Database:
        return self.scope.database

    @property
    def tables(self) -> Tables:
        return self.scope.tables

    @property
    def host(self) -> str:
        """The machine this store writes for (``Scope.host``)."""
        return self.scope.host

    @host.setter
    def host(self, host: str) -> None:
        self.scope.host = host

    def close_thread_connection(self) -> None:
        """Close the calling thread's connection (peewee keeps one per
        thread): for a helper thread that is done with the store."""
        if not self.database.is_closed():
            self.database.close()

    # ---- write ------------------------------------------------------------

    def apply(self, outcomes: Iterable[ReadOutcome], now: dt.datetime | None = None) -> ApplyResult:
        return write.apply(self.scope, outcomes, now)

    def compact_counts(self, threshold: int = counters.FOLD_AT) -> bool:
        return self.scope.compact_counts(threshold)

    # ---- bulk builds ------------------------------------------------------

    def table_size(self) -> int:
        return bulk.table_size(self.scope) if bulk.supported(self.scope) else 0

    def bulk_worth_it(self, listed: int, before: int) -> bool:
        return bulk.worth_it(listed, before)

    def begin_bulk(self) -> bool:
        return bulk.begin(self.scope)

    def set_aside_worth_it(self, listed: int, before: int) -> bool:
        return bulk.set_aside_worth_it(listed, before)

    def set_indexes_aside(self) -> None:
        bulk.set_aside(self.scope)

    def end_bulk(self) -> int:
        return bulk.end(self.scope)

    def finish_interrupted_bulk(self) -> bool:
        return bulk.finish_interrupted(self.scope)

    # ---- forget -----------------------------------------------------------

    def forget_locations(
        self, paths: list[str], now: dt.datetime | None = None
    ) -> tuple[int, list[str]]:
        return forget.forget_locations(self.scope, paths, now)

    def forget_root(self, root: str) -> tuple[int, list[str]]:
        return forget.forget_root(self.scope, root)

    def reread_requests(self) -> list[str]:
        return forget.reread_requests(self.scope)

    def sync_roots(self, roots: list[tuple[str, str]], now: dt.datetime | None = None) -> None:
        forget.sync_roots(self.scope, roots, now)

    def delete(self, dispatch_ids: list[str]) -> int:
        return forget.delete(self.scope, dispatch_ids)

    def hide(self, dispatch_ids: Iterable[str]) -> int:
        return forget.hide(self.scope, dispatch_ids)

    # ---- provisional ------------------------------------------------------

    def has_locations(self, folder: str) -> bool:
        return provisional.has_locations(self.scope, folder)

    def listing_batch(self, rows: list[tuple[object, ...]], shared: dict[str, object]) -> Rows:
        return provisional.listing_batch(self.scope, rows, shared)

    def list_new(self, batch: Rows) -> int:
        return provisional.list_new(self.scope, batch)

    def listed_under(self, folder: str) -> list[tuple[str, str]]:
        return provisional.listed_under(self.scope, folder)

    def drop_listed(self, dispatch_ids: list[str]) -> int:
        return provisional.drop_listed(self.scope, dispatch_ids)

    # ---- read -------------------------------------------------------------

    def get(self, dispatch_id: str) -> DispatchRecord | None:
        return read.get(self.scope, dispatch_id)

    def sub_workflows(self, dispatch_id: str) -> list[tuple[str, int | None]]:
        return read.sub_workflows(self.scope, dispatch_id)

    def result_bytes(self, dispatch_id: str) -> bytes | None:
        return read.result_bytes(self.scope, dispatch_id)

    def result_document(self, dispatch_id: str) -> dict | None:
        return read.result_document(self.scope, dispatch_id)

    def list(self, q: ListQuery) -> Page:
        self._check_statuses(q)
        page = read.page(self.scope, q)
        if q.text:
            from . import bulk

            page.search_incomplete = bulk.active(self.scope)
        return page

    def iterate(self, q: ListQuery, chunk: int = 1000) -> Iterator[DispatchRecord]:
        self._check_statuses(q)
        return read.iterate(self.scope, q, chunk)

    def _check_statuses(self, q: ListQuery) -> None:
        every = ListQuery(include_hidden=True)
        check_statuses(q.status, lambda: read.counts(self.scope, every))

    def timeline(self, days: int, now: dt.datetime) -> dict[str, Any]:
        return stats.timeline(self.scope, days, now)

    def counts(self, q: ListQuery | None = None) -> dict[str, int]:
        return read.counts(self.scope, q)

    def count_by_root(self) -> dict[str, int]:
        return read.count_by_root(self.scope)

    def count_by_host(self) -> dict[str, int]:
        return read.count_by_host(self.scope)

    def disk_use(self) -> tuple[dict[str, int], dict[str, int]]:
        return read.disk_use(self.scope)

    def known_locations(self, root: str) -> dict[str, KnownLocation]:
        return read.known_locations(self.scope, root)

    def stored_stats(self, folder: str, chunk: int = 20_000) -> Iterator[StoredStat]:
        return read.stored_stats(self.scope, folder, chunk)

    def unsettled_paths(self, root: str) -> list[str]:
        return read.unsettled_paths(self.scope, root)

    # ---- tags and notes ---------------------------------------------------

    def tag(self, dispatch_id: str, names: list[str]) -> tags.Labels:
        return tags.tag(self.scope, dispatch_id, names)

    def untag(self, dispatch_id: str, names: list[str]) -> tags.Labels:
        return tags.untag(self.scope, dispatch_id, names)

    def note(self, dispatch_id: str, text: str | None) -> tags.Labels:
        return tags.note(self.scope, dispatch_id, text)

    def restore_labels(self, entries: list[tags.LabelEntry]) -> int:
        return tags.restore(self.scope, entries)
