"""What the daemon's notifiers sent: one row per (notifier, dispatch,
status), so that each notification goes out once, across restarts too
(``daemon.notify``).

A row is claimed before sending and marked sent after: a daemon stopped
in between (or a URL that never answered) leaves it pending, and the next
daemon sends it then. A plain table made by migration step 9 in SQL both
engines take as it is; no model, since nothing but this module touches it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import peewee as pw

TABLE = "notification_sent"

CREATE = f"""CREATE TABLE {TABLE} (
    notifier VARCHAR(64) NOT NULL,
    dispatch_id VARCHAR(255) NOT NULL,
    status VARCHAR(64) NOT NULL,
    claimed_at VARCHAR(40) NOT NULL,
    sent_at VARCHAR(40),
    PRIMARY KEY (notifier, dispatch_id, status)
)"""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


class NotificationLog:
    """The table, over whichever database the index has open now (it may
    be reopened under the daemon). Engine errors come out raw."""

    def __init__(self, database: Callable[[], pw.Database]) -> None:
        self._database = database

    def claim(self, notifier: str, dispatch_id: str, status: str) -> bool:
        """Take ``dispatch_id``'s ``status`` for ``notifier`` to send; False
        if it was taken before (by this daemon or an earlier one)."""
        db = self._database()
        p = db.param
        with db.atomic():
            cursor = db.execute_sql(
                f"INSERT INTO {TABLE} (notifier, dispatch_id, status, claimed_at)"  # noqa: S608
                f" VALUES ({p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING",
                (notifier, dispatch_id, status, _now()),
            )
            return cursor.rowcount == 1

    def sent(self, notifier: str, dispatch_id: str, status: str) -> None:
        db = self._database()
        p = db.param
        with db.atomic():
            db.execute_sql(
                f"UPDATE {TABLE} SET sent_at = {p}"  # noqa: S608
                f" WHERE notifier = {p} AND dispatch_id = {p} AND status = {p}",
                (_now(), notifier, dispatch_id, status),
            )

    def pending(self, notifier: str) -> list[tuple[str, str]]:
        """(dispatch id, status) claimed by ``notifier`` and never sent."""
        db = self._database()
        p = db.param
        rows = db.execute_sql(
            f"SELECT dispatch_id, status FROM {TABLE}"  # noqa: S608
            f" WHERE notifier = {p} AND sent_at IS NULL ORDER BY claimed_at",
            (notifier,),
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def count(self, notifier: str) -> int:
        """How many ``notifier`` has sent."""
        db = self._database()
        p = db.param
        (count,) = db.execute_sql(
            f"SELECT COUNT(*) FROM {TABLE} WHERE notifier = {p} AND sent_at IS NOT NULL",  # noqa: S608
            (notifier,),
        ).fetchone()
        return int(count)
