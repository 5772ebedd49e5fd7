"""The text index on SQLite: an FTS5 table kept current by triggers.

**Engine-specific (SQLite)**; PostgreSQL's twin is in ``store.fulltext``.

``dispatch_search`` holds one row per dispatch, its rowid the dispatch
row's (so that a change or a delete finds its row without a scan), and the
text a search looks through (``BODY``): id, workflow name, location, error,
the names and errors of failing tasks, tags and note. Triggers on
``dispatch``, ``dispatch_tag`` and ``dispatch_note`` keep it current, so
every writer (the store, migrations, Covalent's UI through the
``dispatches`` view) is covered without knowing it; an update that changes
none of the searched columns (most rescans) touches nothing.

During a bulk build (``store.bulk``: the first scan of a big results
directory) the triggers on ``dispatch`` only drop what a change makes stale
and index nothing; ``fill`` then indexes, in one statement, every dispatch
that has no text row. One set of trigger statements, gated by a row of
``index_meta``, rather than triggers dropped and made again: an index left
in a bulk build by a crash is still one whose next scan finishes it.
"""

# Every SQL text here is built from this module's constants; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import peewee as pw

TABLE = "dispatch_search"
VIEW = "dispatch_search_body"

# What a search looks through, per dispatch, as one text, of the row ``{0}``
# (NEW in a trigger on ``dispatch``, which then reads no row again; the
# dispatch table in the view). A task counts as failing if it failed or
# left an error.
_BODY = """
    {0}.dispatch_id || ' ' || COALESCE({0}.lattice_name, '') || ' ' || {0}.path || ' '
    || COALESCE({0}.error, '') || ' '
    || COALESCE((SELECT group_concat(COALESCE(json_extract(n.value, '$.name'), '') || ' '
                                     || COALESCE(json_extract(n.value, '$.error'), ''), ' ')
                 FROM json_each(CASE WHEN json_valid({0}.nodes) THEN {0}.nodes END) AS n
                 WHERE json_extract(n.value, '$.status') = 'FAILED'
                    OR json_extract(n.value, '$.error') IS NOT NULL), '') || ' '
    || COALESCE((SELECT group_concat(t.tag, ' ') FROM dispatch_tag AS t
                 WHERE t.dispatch_id = {0}.dispatch_id), '') || ' '
    || COALESCE((SELECT o.text FROM dispatch_note AS o WHERE o.dispatch_id = {0}.dispatch_id), '')
"""
# The searched columns of ``dispatch``: a change to another one re-indexes nothing.
_SEARCHED = ("dispatch_id", "lattice_name", "path", "error", "nodes")
_CHANGED = " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in _SEARCHED)
# The row of ``index_meta`` (models.MetaEntry) present during a bulk build.
BULK_KEY = "bulk_build"
_NOT_BULK = f"NOT EXISTS (SELECT 1 FROM index_meta WHERE key = '{BULK_KEY}')"


def _refresh(key: str) -> str:
    """Statements (for a trigger) that index the dispatch ``key`` names anew."""
    return f"""
        DELETE FROM {TABLE} WHERE rowid = (SELECT rowid FROM dispatch WHERE dispatch_id = {key});
        INSERT INTO {TABLE} (rowid, body)
            SELECT id, body FROM {VIEW} WHERE dispatch_id = {key};"""


_DDL = (
    f"CREATE VIRTUAL TABLE {TABLE} USING fts5(body)",
    f"CREATE VIEW {VIEW} AS SELECT d.rowid AS id, d.dispatch_id AS dispatch_id, "
    f"{_BODY.format('d')} AS body FROM dispatch AS d",
    f"""CREATE TRIGGER {TABLE}_delete AFTER DELETE ON dispatch BEGIN
        DELETE FROM {TABLE} WHERE rowid = OLD.rowid;
    END""",
    *(
        f"""CREATE TRIGGER {TABLE}_{table}_{event.lower()} AFTER {event} ON {table} BEGIN
            {_refresh(f"{row}.dispatch_id")}
        END"""
        for table in ("dispatch_tag", "dispatch_note")
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
    ),
)


# Gated: a bulk build indexes nothing row by row (the module's doc).
_ROW_TRIGGERS = (
    f"""CREATE TRIGGER {TABLE}_insert AFTER INSERT ON dispatch WHEN {_NOT_BULK} BEGIN
        INSERT INTO {TABLE} (rowid, body) VALUES (NEW.rowid, {_BODY.format("NEW")});
    END""",
    f"""CREATE TRIGGER {TABLE}_update AFTER UPDATE ON dispatch WHEN {_CHANGED} BEGIN
        DELETE FROM {TABLE} WHERE rowid = OLD.rowid;
        INSERT INTO {TABLE} (rowid, body)
            SELECT NEW.rowid, {_BODY.format("NEW")} WHERE {_NOT_BULK};
    END""",
)


def install(database: pw.Database) -> None:
    """Create the text index and its triggers, and index every dispatch."""
    for statement in (*_DDL, *_ROW_TRIGGERS):
        database.execute_sql(statement)
    database.execute_sql(f"INSERT INTO {TABLE} (rowid, body) SELECT id, body FROM {VIEW}")


def gate_triggers(database: pw.Database) -> None:
    """Make the triggers on inserts and updates the gated ones (migration
    step 11, for an index whose step 9 made them ungated)."""
    for event in ("insert", "update"):
        database.execute_sql(f'DROP TRIGGER IF EXISTS "{TABLE}_{event}"')
    for statement in _ROW_TRIGGERS:
        database.execute_sql(statement)


def fill(database: pw.Database) -> int:
    """Index every dispatch that has no text row (the end of a bulk build);
    how many."""
    cursor = database.execute_sql(
        f"INSERT INTO {TABLE} (rowid, body) SELECT id, body FROM {VIEW} "
        f"WHERE id NOT IN (SELECT rowid FROM {TABLE})"
    )
    return cursor.rowcount


# A search with fewer hits than this fetches them by rowid and sorts them;
# one with more walks the listing's order and keeps the rows that match
# (the hits' rowids are gathered once, as a list to probe). Either way a page
# costs about as much as the plain first page: one hit, none, or a word in
# every record (a million hits: some 0.3 s, against 8 s to sort them all).
FEW = 500


def condition(database: pw.Database, rowid: pw.Node, expression: str) -> pw.Node:
    """``rowid`` (the listed dispatch's) is of a dispatch matching the FTS5
    query ``expression``."""
    hits = database.execute_sql(
        f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH ? LIMIT {FEW}", (expression,)
    ).fetchall()
    if len(hits) < FEW:
        # The rowids themselves, not the subquery: with them in sight the
        # planner looks the rows up rather than walking an index of another
        # filter (a status: 80,000 rows at a million) for them.
        return pw.Expression(rowid, "IN", pw.Tuple(*(row[0] for row in hits)))
    matching = pw.SQL(f"(SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH ?)", [expression])
    # The unary + keeps the planner from looking the rows up by rowid.
    return pw.Expression(pw.NodeList((pw.SQL("+"), rowid), glue=""), "IN", matching)
