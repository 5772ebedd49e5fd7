"""What a listing asks for, and the cursor that pages through it.

Pages are newest first by (sort_time, dispatch_id), and a cursor is the key
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

DEFAULT_LIMIT = 50
# The HTTP API's largest page; Python and the CLI may ask for any number.
MAX_LIMIT = 10_000
# Orders a listing can be asked for besides its own (newest first, by
# cursor); those are pages by size only: no cursor.
SORTS = ("start_time", "end_time", "duration", "lattice_name", "status")
ORDERS = ("asc", "desc")


@dataclass(frozen=True)
class Cursor:
    sort_time: dt.datetime
    dispatch_id: str

    def encode(self) -> str:
        raw = json.dumps([self.sort_time.isoformat(), self.dispatch_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            when, dispatch_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            moment = dt.datetime.fromisoformat(when)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise BadInputError(f"not a valid cursor: {text[:60]!r}") from None
        if not isinstance(dispatch_id, str) or moment.tzinfo is None:
            raise BadInputError(f"not a valid cursor: {text[:60]!r}")
        return cls(moment.astimezone(dt.timezone.utc), dispatch_id)


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
    limit: int | None = DEFAULT_LIMIT
    cursor: Cursor | None = None
    # One of SORTS (None: newest first, the order cursors page through).
    sort: str | None = None
    order: str = "desc"

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
        limit: int | None = DEFAULT_LIMIT,
        cursor: str | Cursor | None = None,
        sort: str | None = None,
        order: str | None = None,
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
        if sort is not None and sort not in SORTS:
            raise BadInputError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        if order is not None and order not in ORDERS:
            raise BadInputError(f"order must be asc or desc, not {order!r}")
        if sort is not None and cursor:
            raise BadInputError("a cursor pages the newest-first order only; leave out sort")
        return cls(
            status=statuses,
            results_dir=folder,
            lattice_name=lattice_name or None,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
            text=text or None,
            include_missing=include_missing,
            limit=limit,
            cursor=Cursor.decode(cursor)
            if isinstance(cursor, str) and cursor
            else (cursor if isinstance(cursor, Cursor) else None),
            sort=sort,
            order=order or "desc",
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
    (None on the last page). It is a list, so it can be used as one."""

    next_cursor: str | None

    def __init__(self, records: list[DispatchRecord], next_cursor: str | None = None) -> None:
        super().__init__(records)
        self.next_cursor = next_cursor


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
