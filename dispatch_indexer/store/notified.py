"""What the daemon's notifiers already sent: one row per (notifier, dispatch,
status), so that each is sent once, across restarts too (``daemon.notify``).

A plain table, made by migration step 9 in SQL both engines take as it is;
no model, since nothing but this module reads or writes it.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw

TABLE = "notification_sent"

CREATE = f"""CREATE TABLE {TABLE} (
    notifier VARCHAR(64) NOT NULL,
    dispatch_id VARCHAR(255) NOT NULL,
    status VARCHAR(64) NOT NULL,
    sent_at VARCHAR(40) NOT NULL,
    PRIMARY KEY (notifier, dispatch_id, status)
)"""


def claim(database: pw.Database, notifier: str, dispatch_id: str, status: str) -> bool:
    """Record that ``notifier`` sends ``dispatch_id``'s ``status``; False if
    it was recorded before (by this daemon or an earlier one)."""
    p = database.param
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    with database.atomic():
        cursor = database.execute_sql(
            f"INSERT INTO {TABLE} (notifier, dispatch_id, status, sent_at)"  # noqa: S608
            f" VALUES ({p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING",
            (notifier, dispatch_id, status, now),
        )
        return cursor.rowcount == 1


def sent(database: pw.Database, notifier: str) -> int:
    """How many ``notifier`` has sent (for tests and status)."""
    p = database.param
    (count,) = database.execute_sql(
        f"SELECT COUNT(*) FROM {TABLE} WHERE notifier = {p}",  # noqa: S608
        (notifier,),
    ).fetchone()
    return int(count)
