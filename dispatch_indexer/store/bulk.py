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

The build is marked by a row of ``index_meta``, which the triggers read,
so an index left in a bulk build by a crash is finished by its next scan
(``finish_interrupted``). **SQLite only**: on PostgreSQL, where daemons of
several hosts write one index at once, every write keeps its indexes.
"""

from __future__ import annotations

from . import engine, sorting
from .scope import Scope
from .sqlite import fulltext as sqlite_fulltext

KEY = sqlite_fulltext.BULK_KEY
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
    return filled


def finish_interrupted(scope: Scope) -> bool:
    """Finish a bulk build a crash left unfinished; whether there was one."""
    if not supported(scope) or not active(scope):
        return False
    end(scope)
    return True
