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
"""

# Every SQL text here is built from this module's constants; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import peewee as pw

TABLE = "dispatch_search"
VIEW = "dispatch_search_body"

# What a search looks through, per dispatch, as one text. A task counts as
# failing if it failed or left an error.
_BODY = """
    d.dispatch_id || ' ' || COALESCE(d.lattice_name, '') || ' ' || d.path || ' '
    || COALESCE(d.error, '') || ' '
    || COALESCE((SELECT group_concat(COALESCE(json_extract(n.value, '$.name'), '') || ' '
                                     || COALESCE(json_extract(n.value, '$.error'), ''), ' ')
                 FROM json_each(CASE WHEN json_valid(d.nodes) THEN d.nodes END) AS n
                 WHERE json_extract(n.value, '$.status') = 'FAILED'
                    OR json_extract(n.value, '$.error') IS NOT NULL), '') || ' '
    || COALESCE((SELECT group_concat(t.tag, ' ') FROM dispatch_tag AS t
                 WHERE t.dispatch_id = d.dispatch_id), '') || ' '
    || COALESCE((SELECT o.text FROM dispatch_note AS o WHERE o.dispatch_id = d.dispatch_id), '')
"""
# The searched columns of ``dispatch``: a change to another one re-indexes nothing.
_SEARCHED = ("dispatch_id", "lattice_name", "path", "error", "nodes")
_CHANGED = " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in _SEARCHED)


def _refresh(key: str) -> str:
    """Statements (for a trigger) that index the dispatch ``key`` names anew."""
    return f"""
        DELETE FROM {TABLE} WHERE rowid = (SELECT rowid FROM dispatch WHERE dispatch_id = {key});
        INSERT INTO {TABLE} (rowid, dispatch_id, body)
            SELECT id, dispatch_id, body FROM {VIEW} WHERE dispatch_id = {key};"""


_DDL = (
    # The dispatch id is stored (not indexed) so that a match is looked up
    # in ``dispatch`` by its key.
    f"CREATE VIRTUAL TABLE {TABLE} USING fts5(dispatch_id UNINDEXED, body)",
    f"CREATE VIEW {VIEW} AS SELECT d.rowid AS id, d.dispatch_id AS dispatch_id, "
    f"{_BODY} AS body FROM dispatch AS d",
    f"""CREATE TRIGGER {TABLE}_insert AFTER INSERT ON dispatch BEGIN
        INSERT INTO {TABLE} (rowid, dispatch_id, body)
            SELECT id, dispatch_id, body FROM {VIEW} WHERE id = NEW.rowid;
    END""",
    f"""CREATE TRIGGER {TABLE}_update AFTER UPDATE ON dispatch WHEN {_CHANGED} BEGIN
        DELETE FROM {TABLE} WHERE rowid = OLD.rowid;
        INSERT INTO {TABLE} (rowid, dispatch_id, body)
            SELECT id, dispatch_id, body FROM {VIEW} WHERE id = NEW.rowid;
    END""",
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


def install(database: pw.Database) -> None:
    """Create the text index and its triggers, and index every dispatch."""
    for statement in _DDL:
        database.execute_sql(statement)
    database.execute_sql(
        f"INSERT INTO {TABLE} (rowid, dispatch_id, body) SELECT id, dispatch_id, body FROM {VIEW}"
    )


def match(expression: str) -> pw.Node:
    """Ids of the dispatches matching an FTS5 query, for ``IN``."""
    return pw.SQL(f"(SELECT dispatch_id FROM {TABLE} WHERE {TABLE} MATCH ?)", [expression])
