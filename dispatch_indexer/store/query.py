"""What a listing asks for, and the cursor that pages through it.

Pages are newest first by (sort_time, dispatch_id), or in another order
(``sorting``) by (its key, dispatch_id), and a cursor is the key
of the last record of a page: the next page starts strictly after it. This
is keyset pagination, so a page never repeats or skips a record when new
dispatches arrive between requests (they sort before the first page), and
each page is an index range scan however deep it is.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import BadInputError, UnknownStatusError
from ..records import KNOWN_STATUSES, DispatchRecord
from . import fulltext, sorting, tags

DEFAULT_LIMIT = 50
# The HTTP API's largest page; Python and the CLI may ask for any number.
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Cursor:
    """The key of the last record of a page, in the order it was sorted by
    (``sorting``): the default order's is that record's sort_time, any
    other order's its sort key as the database computed it."""

    sort_time: dt.datetime | None
    dispatch_id: str
    sort: str = sorting.DEFAULT_SORT
    order: str = sorting.DEFAULT_ORDER
    key: str | float | int | None = None

    @property
    def value(self) -> object:
        """The sort key a next page starts after."""
        return self.sort_time if self.sort == sorting.DEFAULT_SORT else self.key

    def encode(self) -> str:
        if self.sort == sorting.DEFAULT_SORT and self.order == sorting.DEFAULT_ORDER:
            assert self.sort_time is not None
            parts: list[object] = [self.sort_time.isoformat(), self.dispatch_id]
        elif self.sort == sorting.DEFAULT_SORT:
            assert self.sort_time is not None
            parts = [self.sort, self.order, self.sort_time.isoformat(), self.dispatch_id]
        else:
            parts = [self.sort, self.order, self.key, self.dispatch_id]
        raw = json.dumps(parts, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        bad = BadInputError(f"not a valid cursor: {text[:60]!r}")
        try:
            padded = text + "=" * (-len(text) % 4)
            parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise bad from None
        if not isinstance(parts, list) or len(parts) not in (2, 4):
            raise bad
        sort, order = (sorting.DEFAULT_SORT, sorting.DEFAULT_ORDER)
        if len(parts) == 4:
            sort, order = parts[0], parts[1]
            if sort not in sorting.SORTS or order not in sorting.ORDERS:
                raise bad
        value, dispatch_id = parts[-2], parts[-1]
        if not isinstance(dispatch_id, str):
            raise bad
        if sort != sorting.DEFAULT_SORT:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise bad
            return cls(None, dispatch_id, sort, order, value)
        try:
            moment = dt.datetime.fromisoformat(value)
        except (ValueError, TypeError):
            raise bad from None
        if moment.tzinfo is None:
            raise bad
        return cls(moment.astimezone(dt.timezone.utc), dispatch_id, sort, order)


@dataclass(frozen=True)
class ListQuery:
    """Filters for ``DispatchIndex.list``; every one is optional."""

    status: tuple[str, ...] = ()
    results_dir: str | None = None
    lattice_name: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str | None = None
    include_missing: bool = True
    # Hidden records were deleted through Covalent's UI (DELETE /api/results,
    # or its DispatchDB): gone from listings, kept in the index.
    include_hidden: bool = False
    tag: str | None = None
    sort: str = sorting.DEFAULT_SORT
    order: str = sorting.DEFAULT_ORDER
    limit: int | None = DEFAULT_LIMIT
    cursor: Cursor | None = None

    @classmethod
    def build(
        cls,
        *,
        status: str | list[str] | tuple[str, ...] | None = None,
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
        cursor: str | Cursor | None = None,
        include_hidden: bool = False,
    ) -> ListQuery:
        """Check and normalise what a caller (Python, CLI or HTTP) asked for."""
        if isinstance(status, str):
            status = [status]
        statuses = tuple(dict.fromkeys(s.strip().upper() for s in status or () if s.strip()))
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise BadInputError(f"limit must be a whole number, not {limit!r}")
        if limit is not None and limit < 1:
            raise BadInputError(f"limit must be at least 1, not {limit} (leave it out for all)")
        folder = None
        if results_dir is not None:
            folder = os.path.abspath(os.path.expanduser(os.fspath(results_dir))).rstrip("/") or "/"
        if text is not None and len(text) > 1000:
            raise BadInputError("text must be at most 1000 characters")
        if text:
            fulltext.parse(text)  # a search without a word is an error now
        sort, order = sorting.check(sort, order)
        after = (
            Cursor.decode(cursor)
            if isinstance(cursor, str) and cursor
            else (cursor if isinstance(cursor, Cursor) else None)
        )
        if after is not None and (after.sort, after.order) != (sort, order):
            raise BadInputError(
                f"the cursor continues a listing by {after.sort} {after.order}, "
                f"not by {sort} {order}"
            )
        return cls(
            status=statuses,
            results_dir=folder,
            lattice_name=lattice_name or None,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
            text=text or None,
            include_missing=include_missing,
            include_hidden=include_hidden,
            tag=tags.check_tag(tag) if tag else None,
            sort=sort,
            order=order,
            limit=limit,
            cursor=after,
        )


def check_statuses(asked: tuple[str, ...], held: Callable[[], Iterable[str]]) -> None:
    """Refuse a status filter that can match nothing: one neither Covalent
    (``KNOWN_STATUSES``) nor any record (``held``, asked only then) has."""
    unknown = [s for s in asked if s not in KNOWN_STATUSES]
    if not unknown:
        return
    in_index = set(held())
    unknown = [s for s in unknown if s not in in_index]
    if not unknown:
        return
    import difflib

    names = [*KNOWN_STATUSES, *sorted(in_index - set(KNOWN_STATUSES))]
    close = difflib.get_close_matches(unknown[0], names, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise UnknownStatusError(
        f"unknown status {', '.join(unknown)}; {hint}known: {', '.join(names)}"
    )


class Page(list[DispatchRecord]):
    """One page of records, newest first, and the cursor of the next page
    (None on the last page). It is a list, so it can be used as one.

    ``search_incomplete``: the page was searched (``text``) while a first
    scan's bulk build was writing (``store.bulk``), whose dispatches are
    searchable only once it ends."""

    next_cursor: str | None
    search_incomplete: bool

    def __init__(
        self,
        records: list[DispatchRecord],
        next_cursor: str | None = None,
        search_incomplete: bool = False,
    ) -> None:
        super().__init__(records)
        self.next_cursor = next_cursor
        self.search_incomplete = search_incomplete


def parse_time(value: dt.datetime | str | None, name: str) -> dt.datetime | None:
    """An aware UTC datetime from a datetime or an ISO 8601 string (naive = UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadInputError(f"{name} must be an ISO 8601 time, not {value!r}") from None
    if not isinstance(value, dt.datetime):
        raise BadInputError(f"{name} must be a time")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)
