"""The change feed: records in the order they were last written, after a mark.

Every write of a dispatch row sets its ``updated_at`` (``write``, ``forget``),
so the rows written after a moment are an index range (``dispatch_changed``,
migration step 9) read in (updated_at, dispatch_id) order, keyset style, on
either engine. ``list --follow`` and the daemon's notifier read it.

A writer's ``updated_at`` is taken just before its transaction, so a row can
commit a moment after rows stamped later (several writers on one
PostgreSQL server, a long batch). Readers therefore look ``OVERLAP`` back
from their mark and drop what they already saw (``Follower``): a late commit
is seen once, as long as it is not later than that.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..errors import BadInputError
from ..records import DispatchRecord
from .read import _listing_columns, _record
from .scope import Scope

OVERLAP = dt.timedelta(seconds=2)
# The feed's position before every record.
_START = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Mark:
    """A position in the feed: after the row written at ``when`` with this id."""

    when: dt.datetime
    dispatch_id: str = ""

    def encode(self) -> str:
        raw = json.dumps([self.when.isoformat(), self.dispatch_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> Mark:
        if not text:
            return cls(_START)
        try:
            padded = text + "=" * (-len(text) % 4)
            when, dispatch_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            moment = dt.datetime.fromisoformat(when)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise BadInputError(f"not a valid change mark: {text[:60]!r}") from None
        if not isinstance(dispatch_id, str) or moment.tzinfo is None:
            raise BadInputError(f"not a valid change mark: {text[:60]!r}")
        return cls(moment.astimezone(dt.timezone.utc), dispatch_id)


def since(scope: Scope, after: Mark, limit: int = 500) -> list[DispatchRecord]:
    """Up to ``limit`` records written after ``after``, oldest write first."""
    D = scope.tables.Dispatch
    query = (
        D.select(*_listing_columns(D))
        .where(
            (D.updated_at > after.when)
            | ((D.updated_at == after.when) & (D.dispatch_id > after.dispatch_id))
        )
        .order_by(D.updated_at, D.dispatch_id)
        .limit(limit)
    )
    return [_record(row) for row in query]


def head(scope: Scope) -> Mark:
    """The mark after the last record written so far."""
    D = scope.tables.Dispatch
    row = (
        D.select(D.updated_at, D.dispatch_id)
        .order_by(D.updated_at.desc(), D.dispatch_id.desc())
        .limit(1)
        .tuples()
        .first()
    )
    return Mark(*row) if row is not None else Mark(_START)


@dataclass
class Follower:
    """Reads the feed from a mark, each change once, with ``OVERLAP`` for
    late commits."""

    mark: Mark
    # (dispatch id, updated_at) seen within OVERLAP of the mark.
    seen: dict[tuple[str, dt.datetime], None] = field(default_factory=dict)

    def take(self, batch: Iterable[DispatchRecord]) -> list[DispatchRecord]:
        """The records of ``batch`` not seen before; moves the mark on."""
        fresh: list[DispatchRecord] = []
        for record in batch:
            when = record.updated_at or _START
            key = (record.dispatch_id, when)
            if key in self.seen:
                continue
            self.seen[key] = None
            fresh.append(record)
            if (when, record.dispatch_id) > (self.mark.when, self.mark.dispatch_id):
                self.mark = Mark(when, record.dispatch_id)
        horizon = self.mark.when - OVERLAP
        for key in [k for k in self.seen if k[1] < horizon]:
            del self.seen[key]
        return fresh

    def query_mark(self) -> Mark:
        """Where the next read starts: OVERLAP before the mark."""
        return Mark(max(_START, self.mark.when - OVERLAP))

    def poll(
        self, read: Callable[[Mark, int], list[DispatchRecord]], limit: int = 500
    ) -> Iterator[DispatchRecord]:
        """Every change not seen yet, read ``limit`` at a time with
        ``read(mark, limit)`` (``since`` bound to a scope)."""
        start = self.query_mark()
        while True:
            batch = read(start, limit)
            yield from self.take(batch)
            if len(batch) < limit:
                return
            last = batch[-1]
            start = Mark(last.updated_at or _START, last.dispatch_id)
