"""The schema version, and the steps that bring an older index up to date.

Each step is a function applied in its own transaction, in order; the
version is stored in ``index_meta``. A new column is a new step using
peewee's portable ``playhouse.migrate`` operations.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee as pw
from playhouse import migrate as schema

from . import sqlite_compat
from .errors import DatabaseError
from .models import BaseModel, Tables

SCHEMA_VERSION_KEY = "schema_version"

# The columns each table gained in a later step. Step 1 creates every table
# as version 1 had it, that is today's model without these, and the later
# steps add them: a new index and an upgraded one are built by the very same
# steps, so they end up identical and no step has to ask the database which
# columns it already has. A step that adds a column lists it here.
ADDED_AFTER_V1: dict[str, tuple[str, ...]] = {
    "dispatch": ("document", "hidden"),  # step 2
}


def _as_of_v1(model: type[BaseModel]) -> type[BaseModel]:
    later = ADDED_AFTER_V1.get(model._meta.table_name)
    if not later:
        return model
    meta = type(
        "Meta", (), {"database": model._meta.database, "table_name": model._meta.table_name}
    )
    v1 = type(f"{model.__name__}V1", (model,), {"Meta": meta, "__module__": __name__})
    for name in later:
        v1._meta.remove_field(name)
    return v1


def _create_v1(database: pw.Database, tables: Tables) -> None:
    database.create_tables([_as_of_v1(model) for model in tables.all], safe=True)


def _add_document_and_hidden(database: pw.Database, tables: Tables) -> None:
    """Covalent's UI document of each dispatch and the hidden flag; on
    SQLite, the ``dispatches`` view Covalent's own UI reads (sqlite_compat)."""
    dispatch = tables.Dispatch
    table = dispatch._meta.table_name
    migrator = schema.SchemaMigrator.from_database(database)
    schema.migrate(
        migrator.add_column(table, "document", dispatch.document),
        # NOT NULL with its DEFAULT FALSE in one ALTER TABLE, which both
        # engines take as it is (peewee's usual add-nullable-then-set-NOT-NULL
        # would rebuild the whole table on SQLite); add_column also creates
        # the field's index, dispatch_hidden.
        migrator.add_column(table, "hidden", dispatch.hidden, allow_not_null=True),
    )
    # Documents come from reading result.pkl: make the next scan read every
    # known copy again (no real file has this mtime), filling them in.
    tables.Location.update(mtime_ns=-1).execute()
    sqlite_compat.install(database)


# Step N brings the schema from version N-1 to N.
STEPS: list[Callable[[pw.Database, Tables], None]] = [_create_v1, _add_document_and_hidden]
LATEST = len(STEPS)


def current_version(database: pw.Database, tables: Tables) -> int:
    meta = tables.MetaEntry
    if not database.table_exists(meta._meta.table_name):
        return 0
    row = meta.get_or_none(meta.key == SCHEMA_VERSION_KEY)
    return int(row.value) if row is not None else 0


def migrate(database: pw.Database, tables: Tables) -> int:
    """Apply every pending step; the resulting version."""
    meta = tables.MetaEntry
    version = current_version(database, tables)
    if version > LATEST:
        raise DatabaseError(
            f"the index has schema version {version}, newer than this "
            f"covalent-indexer understands ({LATEST}); upgrade covalent-indexer"
        )
    while version < LATEST:
        with database.atomic():
            # Another process opening the same index may have applied this
            # step while we waited for the write lock (SQLite transactions
            # here take it as they begin); steps need not be idempotent.
            version = current_version(database, tables)
            if version >= LATEST:
                break
            STEPS[version](database, tables)
            version += 1
            meta.insert(key=SCHEMA_VERSION_KEY, value=str(version)).on_conflict(
                conflict_target=[meta.key], preserve=[meta.value]
            ).execute()
    return version
