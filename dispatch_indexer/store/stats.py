"""Aggregates over the records for the list page's charts: dispatches per
day by status, and how long they took, counted by the database.

Both are one ``GROUP BY`` each, so the charts cost the same at ten records
or a million, and no record crosses into Python. The two expressions that
differ between SQLite and PostgreSQL (a start time's day, a duration in
seconds) are in ``_day`` and ``duration_seconds``; everything else is
plain SQL both engines run alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

from ..errors import BadInputError
from .engine import is_postgres
from .scope import Scope

MAX_DAYS = 3660
# Upper bounds (seconds) of the duration buckets; the last bucket is open.
DURATION_BOUNDS = (1, 10, 60, 600, 3600, 86400)
DURATION_LABELS = ("< 1 s", "1-10 s", "10 s-1 min", "1-10 min", "10 min-1 h", "1 h-1 d", ">= 1 d")


def check_days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise BadInputError(f"days must be between 1 and {MAX_DAYS}, not {days!r}")
    return days


# ---- the engine-specific expressions ---------------------------------------


def _day(database: pw.Database, column: pw.Field) -> pw.Node:
    """``YYYY-MM-DD`` of a UTC time column."""
    if is_postgres(database):
        return pw.fn.to_char(column, "YYYY-MM-DD").coerce(False)
    # SQLite keeps the naive UTC time as text, "YYYY-MM-DD HH:MM:SS[.ffffff]".
    # Not coerced: peewee would read the day back as the column's datetime.
    return pw.fn.substr(column, 1, 10).coerce(False)


def duration_seconds(database: pw.Database, start: pw.Field, end: pw.Field) -> pw.Node:
    """``end - start`` in seconds (NULL when either is)."""
    if is_postgres(database):
        return pw.fn.date_part("epoch", end - start).coerce(False)
    return (pw.fn.julianday(end).coerce(False) - pw.fn.julianday(start).coerce(False)) * 86400.0


# ---- the aggregates ----------------------------------------------------------


def timeline(scope: Scope, days: int, now: dt.datetime) -> dict[str, Any]:
    """Over the ``days`` days up to ``now`` (UTC days, today included):
    dispatches started each day by status, and the durations of those that
    ended, in ``DURATION_BOUNDS`` buckets. Hidden records are left out, as
    from every listing; a dispatch never started has no day and is counted
    in ``not_started`` (of all time)."""
    D = scope.tables.Dispatch
    database = scope.database
    today = now.astimezone(dt.timezone.utc).date()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time(), tzinfo=dt.timezone.utc)
    until = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    shown = D.hidden == False  # noqa: E712 - peewee builds SQL from ==
    in_window = shown & (D.start_time >= since) & (D.start_time < until)

    day = _day(database, D.start_time)
    per_day: dict[str, dict[str, int]] = {}
    query = (
        D.select(day.alias("day"), D.status, pw.fn.COUNT(D.dispatch_id))
        .where(in_window)
        # By position: PostgreSQL does not see the same expression in one
        # whose parameters are bound again ($1 in the SELECT, $3 in GROUP BY).
        .group_by(pw.SQL("1"), pw.SQL("2"))
        .tuples()
    )
    for when, status, count in query:
        per_day.setdefault(str(when), {})[status or "UNKNOWN"] = int(count)

    seconds = duration_seconds(database, D.start_time, D.end_time)
    bucket = pw.Case(
        None,
        [(seconds < bound, index) for index, bound in enumerate(DURATION_BOUNDS)],
        len(DURATION_BOUNDS),
    )
    buckets = dict.fromkeys(range(len(DURATION_LABELS)), 0)
    query = (
        D.select(bucket.alias("bucket"), pw.fn.COUNT(D.dispatch_id))
        .where(in_window & D.end_time.is_null(False))
        .group_by(pw.SQL("1"))
        .tuples()
    )
    for index, count in query:
        buckets[int(index)] += int(count)

    not_started = D.select().where(shown & D.start_time.is_null(True)).count()
    lows = (0, *DURATION_BOUNDS)
    return {
        "days": days,
        "first_day": first.isoformat(),
        "last_day": today.isoformat(),
        "per_day": [
            {"day": key, "by_status": per_day[key], "total": sum(per_day[key].values())}
            for key in sorted(per_day)
        ],
        "durations": [
            {
                "label": DURATION_LABELS[i],
                "min_seconds": lows[i],
                "max_seconds": DURATION_BOUNDS[i] if i < len(DURATION_BOUNDS) else None,
                "count": buckets[i],
            }
            for i in range(len(DURATION_LABELS))
        ],
        "not_started": not_started,
    }
