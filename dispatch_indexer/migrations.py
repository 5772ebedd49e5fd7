"""The schema version, and the steps that bring an older index up to date.

Each step is a function applied in its own transaction, in order; the
version is stored in ``index_meta``. A new column is a new step using
peewee's portable ``playhouse.migrate`` operations.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee as pw

from .errors import DatabaseError
from .models import Tables

SCHEMA_VERSION_KEY = "schema_version"


def _create_v1(database: pw.Database, tables: Tables) -> None:
    database.create_tables(tables.all, safe=True)


# Step N brings the schema from version N-1 to N.
STEPS: list[Callable[[pw.Database, Tables], None]] = [_create_v1]
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
            STEPS[version](database, tables)
            version += 1
            meta.insert(key=SCHEMA_VERSION_KEY, value=str(version)).on_conflict(
                conflict_target=[meta.key], preserve=[meta.value]
            ).execute()
    return version
