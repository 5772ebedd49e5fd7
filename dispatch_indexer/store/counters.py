"""Counts of dispatches kept by the database itself: the triggers behind
the ``dispatch_count`` table (``models.DispatchCount``) and the fold that
keeps it small.

**Engine-specific code (SQLite and PostgreSQL), like ``engine``.** Installed by
migration step 5; read by ``read.counts``, ``count_by_host`` and
``count_by_root``.

Counting a million dispatches by status (or by host, or a host's by root)
means reading every row of the ``dispatch`` table, whose rows are wide
(nodes, result and document inline): seconds. Triggers on that table append
what each change does to the counts instead, so every writer is covered
without knowing it: the store, the ``dispatches`` view's triggers on SQLite
(``sqlite.compat``), Covalent's UI and other daemons on the same PostgreSQL
server, migrations. A change is
logged as rows of deltas (+1 under the key a row came to have, -1 under the
key it left), never as an update of one counter row per key: several writers
at once on PostgreSQL would all update the same few rows, waiting on each
other and deadlocking. Appending takes no lock another writer waits for.

The counts are the sums of the deltas per key. Left alone the log grows by a
row or two per write, so ``fold`` replaces it with one row per key once it
is longer than ``FOLD_AT`` rows, inside a write transaction.
"""

from __future__ import annotations

import zlib

import peewee as pw

from . import engine as db_mod

TABLE = "dispatch_count"
# The table whose rows are counted: models.Dispatch.
DISPATCH = "dispatch"
# A log this long is folded: reading it stays well under a millisecond, and
# a write folds about once in this many changed dispatches.
FOLD_AT = 1000
# One PostgreSQL writer folds at a time (pg_try_advisory_xact_lock key).
_FOLD_LOCK = zlib.crc32(b"covalent-indexer:fold-dispatch-count")

_KEY = "host, root, status, hidden, missing"
# A dispatch without a status is counted under "" (``counts`` says UNKNOWN);
# a NULL root is a key of its own, as GROUP BY takes every NULL as one value.
_ROW = "{0}.host, {0}.root, COALESCE({0}.status, ''), {0}.hidden, {0}.missing"
# Which changes move a row from one key to another; any other update (most
# of them: a rescan's new times and bytes) logs nothing.
_KEY_CHANGED = (
    "OLD.host IS {0} NEW.host OR OLD.root IS {0} NEW.root OR OLD.status IS {0} NEW.status"
    " OR OLD.hidden IS {0} NEW.hidden OR OLD.missing IS {0} NEW.missing"
)
# Since step 9 the log also sums the bytes in the dispatches' folders (disk
# use by host and root), so a change of folder size is logged too.
_SIZE = "COALESCE({0}.folder_size, 0)"
_SIZE_CHANGED = " OR OLD.folder_size IS {0} NEW.folder_size"


def _triggers(postgres: bool, sizes: bool) -> tuple[str, ...]:
    """The triggers' SQL: as step 5 made them, or with sizes as step 9 does."""
    columns = f"{_KEY}, n, bytes" if sizes else f"{_KEY}, n"
    append = f"INSERT INTO {TABLE} ({columns}) VALUES"

    def row(which: str, sign: str) -> str:
        size = f", {sign}{_SIZE.format(which)}" if sizes else ""
        return f"({_ROW.format(which)}, {sign}1{size})"

    changed = _KEY_CHANGED + (_SIZE_CHANGED if sizes else "")
    if not postgres:
        return (
            f"""CREATE TRIGGER {TABLE}_insert AFTER INSERT ON {DISPATCH}
            BEGIN
                {append} {row("NEW", "")};
            END""",
            f"""CREATE TRIGGER {TABLE}_update
            AFTER UPDATE OF {_KEY}{", folder_size" if sizes else ""} ON {DISPATCH}
            WHEN {changed.format("NOT")}
            BEGIN
                {append} {row("OLD", "-")}, {row("NEW", "")};
            END""",
            f"""CREATE TRIGGER {TABLE}_delete AFTER DELETE ON {DISPATCH}
            BEGIN
                {append} {row("OLD", "-")};
            END""",
        )
    return (
        f"""CREATE FUNCTION {TABLE}_delta() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                {append} {row("OLD", "-")};
            END IF;
            IF TG_OP <> 'DELETE' THEN
                {append} {row("NEW", "")};
            END IF;
            RETURN NULL;
        END
        $$""",
        f"""CREATE TRIGGER {TABLE}_insert AFTER INSERT ON {DISPATCH}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_delta()""",
        f"""CREATE TRIGGER {TABLE}_update
        AFTER UPDATE OF {_KEY}{", folder_size" if sizes else ""} ON {DISPATCH}
        FOR EACH ROW WHEN ({changed.format("DISTINCT FROM")})
        EXECUTE FUNCTION {TABLE}_delta()""",
        f"""CREATE TRIGGER {TABLE}_delete AFTER DELETE ON {DISPATCH}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_delta()""",
    )


def install(database: pw.Database, *, sizes: bool = False) -> None:
    """Create the triggers that log every change of the dispatch table
    (``sizes``: with folder sizes, as since step 9)."""
    for statement in _triggers(db_mod.is_postgres(database), sizes):
        database.execute_sql(statement)


def add_sizes(database: pw.Database) -> None:
    """Step 9: the log sums folder sizes too. The triggers are made anew;
    the rows already logged carry no bytes, as no folder was measured yet."""
    if db_mod.is_postgres(database):
        database.execute_sql(f"DROP FUNCTION {TABLE}_delta() CASCADE")
    else:
        for event in ("insert", "update", "delete"):
            database.execute_sql(f"DROP TRIGGER {TABLE}_{event}")
    install(database, sizes=True)


def seed(database: pw.Database) -> None:
    """Log the dispatches already there, one row per key. After ``install``
    in the same transaction: on PostgreSQL, creating the triggers locks out
    writers until it commits, so no row is counted twice or missed."""
    database.execute_sql(
        f"INSERT INTO {TABLE} ({_KEY}, n)"  # noqa: S608 - constant names only
        f" SELECT {_ROW.format(DISPATCH)}, COUNT(*) FROM {DISPATCH}"
        f" GROUP BY {_ROW.format(DISPATCH)}"
    )


def due(database: pw.Database, threshold: int = FOLD_AT) -> bool:
    """Whether the log is longer than ``threshold`` rows; reads at most one
    row more than that, however long it is."""
    (rows,) = database.execute_sql(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {TABLE} LIMIT {int(threshold) + 1}) AS head"  # noqa: S608
    ).fetchone()
    return rows > threshold


def fold(database: pw.Database) -> bool:
    """Replace the log by one row per key (keys that sum to nothing are
    dropped); whether it was folded. Inside a write transaction.

    SQLite has one writer at a time: the rows there when the fold starts are
    summed and then deleted. PostgreSQL may have other writers appending at
    the same moment; one statement deletes the rows its snapshot sees and
    appends their sums, so rows committed meanwhile stay in the log, counted
    once. Only one writer folds at a time, and one that cannot take the lock
    at once leaves it to the one folding: the lock is taken before the
    statement starts, so under READ COMMITTED (the default) its snapshot
    includes whatever the previous fold committed.
    """
    if db_mod.is_postgres(database):
        (locked,) = database.execute_sql(
            "SELECT pg_try_advisory_xact_lock(%s)", (_FOLD_LOCK,)
        ).fetchone()
        if not locked:
            return False
        database.execute_sql(
            f"WITH gone AS (DELETE FROM {TABLE} RETURNING {_KEY}, n, bytes)"  # noqa: S608
            f" INSERT INTO {TABLE} ({_KEY}, n, bytes)"
            f" SELECT {_KEY}, SUM(n), SUM(bytes) FROM gone GROUP BY {_KEY}"
            " HAVING SUM(n) <> 0 OR SUM(bytes) <> 0"
        )
        return True
    # SQLite cannot feed a DELETE's RETURNING to an INSERT; the sums are
    # appended after the last row of the log and the rows up to it deleted.
    (last,) = database.execute_sql(f"SELECT MAX(rowid) FROM {TABLE}").fetchone()  # noqa: S608
    if last is None:
        return False
    database.execute_sql(
        f"INSERT INTO {TABLE} ({_KEY}, n, bytes)"  # noqa: S608
        f" SELECT {_KEY}, SUM(n), SUM(bytes) FROM {TABLE} WHERE rowid <= ?"
        f" GROUP BY {_KEY} HAVING SUM(n) <> 0 OR SUM(bytes) <> 0",
        (last,),
    )
    database.execute_sql(f"DELETE FROM {TABLE} WHERE rowid <= ?", (last,))  # noqa: S608
    return True
