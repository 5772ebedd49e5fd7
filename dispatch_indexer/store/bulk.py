"""A bulk build: many dispatches written at once, the first scan of a big
results directory (issue 16).

Row by row, each write of a dispatch also updated its text index (FTS5,
``sqlite.fulltext``) and an index per sort (``sorting``): a third of what
the writer spent per row, twice per dispatch in a cold build (the listing
pass writes each row, the full read writes it again). Within a bulk build
the text index is left alone (its triggers only drop what a change makes
stale) and the sort indexes are dropped; at its end one statement indexes
every dispatch that has no text row, and the sort indexes are made again,
each in one pass. Meanwhile a search misses the dispatches written since
the build began, and a sort walks the table; both are right again when it
ends.

The other indexes of the dispatch table (its filters, hosts and roots,
changes, sub-workflows, provisional records) are set aside the same way:
each full read grows a provisional row into a whole one, and every index
of the table had its entry deleted and inserted again per row (the upsert
sets every column), half of what writing the row cost. Their SQL is kept in
``index_meta`` (``SET_ASIDE``), they are dropped, and the end makes each
again from it, in one pass over the table; only in a build that listed
more dispatches than the table held (``set_aside_worth_it``). The
listing's own order and the change feed's (``KEPT``) stay, so that the
first page of a listing and what the notifier reads stay index ranges
while the build runs; other filters walk the table meanwhile.

The build is marked by a row of ``index_meta``, which the triggers read,
so an index left in a bulk build by a crash is finished by its next scan
(``finish_interrupted``; a migration first puts the indexes set aside
back, ``restore_set_aside``). **SQLite only**: on PostgreSQL, where daemons
of several hosts write one index at once, every write keeps its indexes.
"""

from __future__ import annotations

import peewee as pw

from . import engine, sorting
from .scope import Scope
from .sqlite import fulltext as sqlite_fulltext

KEY = sqlite_fulltext.BULK_KEY
# The index_meta rows holding the SQL of an index set aside, by its name.
SET_ASIDE = "bulk_index:"
# The dispatch table's indexes that stay (with SQLite's own, of the primary
# key): the listing's own order, and the change feed's, which the daemon's
# notifier reads after every batch written (``changes``; without its index
# each read would walk the table).
KEPT = ("dispatch_changed", "dispatch_sort_time_dispatch_id")
# A table this small has its indexes made again in well under a second: a
# first scan into it is a bulk build however few dispatches it finds.
SMALL_TABLE = 20_000
# Otherwise a first scan becomes one once its listing found this many, and
# at least this share of what the table holds (making the indexes again
# costs a pass over the whole table).
MIN_LISTED = 2_000
MIN_SHARE = 0.25


def supported(scope: Scope) -> bool:
    return not engine.is_postgres(scope.database)


def table_size(scope: Scope) -> int:
    """About how many dispatch rows there are (their largest rowid: no count)."""
    row = scope.database.execute_sql('SELECT max(rowid) FROM "dispatch"').fetchone()
    return int(row[0] or 0)


def worth_it(listed: int, before: int) -> bool:
    """Whether a first scan that listed ``listed`` dispatches, into a table
    of ``before`` rows, is better written as a bulk build."""
    return listed >= MIN_LISTED and listed >= MIN_SHARE * before


def active(scope: Scope) -> bool:
    M = scope.tables.MetaEntry
    return M.select().where(M.key == KEY).exists()


def begin(scope: Scope) -> bool:
    """Start a bulk build; whether one is on (never on PostgreSQL)."""
    if not supported(scope):
        return False
    M = scope.tables.MetaEntry
    with scope.database.atomic():
        M.insert(key=KEY, value="1").on_conflict_ignore().execute()
        sorting.drop(scope.database)
    return True


def set_aside_worth_it(listed: int, before: int) -> bool:
    """Whether a bulk build that listed ``listed`` dispatches into a table
    of ``before`` rows is better off with the indexes set aside: making
    one again is a pass over the whole table, keeping it costs about twice
    that per row written (a small build keeps them: nothing to win)."""
    return listed >= MIN_LISTED and listed >= before


def set_aside(scope: Scope) -> None:
    """In a bulk build (SQLite): drop the dispatch table's indexes but
    ``KEPT`` (and the sort indexes, ``sorting``), their SQL kept in
    ``index_meta`` for ``restore_set_aside``."""
    if not supported(scope) or not active(scope):
        return
    database = scope.database
    with database.atomic():
        rows = database.execute_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dispatch'"
            " AND sql IS NOT NULL ORDER BY name"
        ).fetchall()
        for name, sql in rows:
            if name in KEPT:
                continue
            database.execute_sql(
                "INSERT OR REPLACE INTO index_meta (key, value) VALUES (?, ?)",
                (SET_ASIDE + name, sql),
            )
            database.execute_sql(f'DROP INDEX "{name}"')


def restore_set_aside(database: pw.Database) -> int:
    """Make again the indexes a bulk build set aside; how many. Inside a
    write transaction; SQLite only."""
    rows = database.execute_sql(
        "SELECT key, value FROM index_meta WHERE key >= ? AND key < ? ORDER BY key",
        (SET_ASIDE, SET_ASIDE[:-1] + chr(ord(SET_ASIDE[-1]) + 1)),
    ).fetchall()
    for key, sql in rows:
        name = key[len(SET_ASIDE) :]
        # A migration run meanwhile may have made it again.
        exists = database.execute_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
        ).fetchone()
        if exists is None:
            database.execute_sql(sql)
        database.execute_sql("DELETE FROM index_meta WHERE key = ?", (key,))
    return len(rows)


def end(scope: Scope) -> int:
    """Finish a bulk build: text rows for the dispatches without one, the
    sort indexes made again; how many dispatches were indexed."""
    if not supported(scope):
        return 0
    M = scope.tables.MetaEntry
    with scope.database.atomic():
        M.delete().where(M.key == KEY).execute()
        filled = sqlite_fulltext.fill(scope.database)
        sorting.install(scope.database, if_missing=True)
        restore_set_aside(scope.database)
    return filled


def finish_interrupted(scope: Scope) -> bool:
    """Finish a bulk build a crash left unfinished; whether there was one."""
    if not supported(scope) or not active(scope):
        return False
    end(scope)
    return True
