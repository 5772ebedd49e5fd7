"""Covalent 0.110's own UI reads a SQLite index directly.

**Engine-specific code (SQLite only), like ``store.engine``.** Called from migration
step 2; on any other engine ``install`` does nothing.

Covalent 0.110's UI server lists, shows and deletes dispatches through
``covalent_dispatcher._db.dispatchdb.DispatchDB``, which opens the SQLite file
named by ``user_interface.dispatch_db`` in Covalent's config with the standard
``sqlite3`` module and issues exactly these statements::

    CREATE TABLE dispatches (dispatch_id text primary key, result_dict text)
        -- at construction; sqlite3.OperationalError ("already exists") is ignored
    SELECT * FROM dispatches [WHERE dispatch_id in (?, ...)]   -- get()
    INSERT INTO dispatches (dispatch_id, result_dict) VALUES (?, ?)
        -- upsert(); on sqlite3.IntegrityError:
    UPDATE dispatches SET result_dict = ? WHERE dispatch_id = ?
    DELETE FROM dispatches WHERE dispatch_id in (?, ...)       -- delete()

The UI serves ``result_dict`` as the dispatch's JSON document. So the index
offers ``dispatches`` as a view of the ``dispatch`` table: every dispatch that
is not hidden and has a document, as ``(dispatch_id, result_dict)``. Pointing
Covalent's ``dispatch_db`` at the index file then shows every indexed
dispatch in Covalent's UI, unchanged. Writes through the view are turned into
what they can mean for an index that is rebuilt from the disk:

- DELETE hides the dispatch (``hidden = 1``): the UI's "delete" removes it
  from the UI and from listings; no row, stored bytes or file is deleted.
- INSERT (``upsert`` by a Covalent dispatcher pointed at the index) shows the
  dispatch again if it was hidden, as re-inserting a deleted row would in
  Covalent's own table; the document itself is ignored, because the index
  takes every dispatch's data from its ``result.pkl``, which that same
  dispatcher writes and the indexer reads. An INSERT never raises
  IntegrityError, so ``upsert`` never falls back to its UPDATE.
- UPDATE is ignored (``RAISE(IGNORE)``), for the same reason.

``CREATE TABLE dispatches`` against the view fails with "already exists",
which DispatchDB ignores; ``CREATE TABLE IF NOT EXISTS`` is a no-op.
"""

from __future__ import annotations

import logging

import peewee as pw

log = logging.getLogger(__name__)

VIEW = "dispatches"
# The table behind it: models.Dispatch.
TABLE = "dispatch"

_STATEMENTS = (
    """CREATE VIEW IF NOT EXISTS dispatches AS
        SELECT dispatch_id, document AS result_dict FROM dispatch
        WHERE NOT hidden AND document IS NOT NULL""",
    """CREATE TRIGGER IF NOT EXISTS dispatches_delete INSTEAD OF DELETE ON dispatches
        BEGIN
            UPDATE dispatch SET hidden = 1 WHERE dispatch_id = OLD.dispatch_id;
        END""",
    """CREATE TRIGGER IF NOT EXISTS dispatches_insert INSTEAD OF INSERT ON dispatches
        BEGIN
            UPDATE dispatch SET hidden = 0 WHERE dispatch_id = NEW.dispatch_id AND hidden;
        END""",
    """CREATE TRIGGER IF NOT EXISTS dispatches_update INSTEAD OF UPDATE ON dispatches
        BEGIN
            SELECT RAISE(IGNORE);
        END""",
)


def install(database: pw.Database) -> bool:
    """Create the ``dispatches`` view and its triggers (SQLite only); whether
    they are there afterwards."""
    if not isinstance(database, pw.SqliteDatabase):
        return False
    row = database.execute_sql(
        "SELECT type FROM sqlite_master WHERE name = ? AND type IN ('table', 'view')", (VIEW,)
    ).fetchone()
    if row is not None and row[0] != "view":
        # Covalent's own table in this file (its dispatch_db pointed here
        # before this version): never drop what it holds.
        log.warning(
            "a table named %r already exists in the index; Covalent's UI will read it, "
            "not the index",
            VIEW,
        )
        return False
    for statement in _STATEMENTS:
        database.execute_sql(statement)
    return True
