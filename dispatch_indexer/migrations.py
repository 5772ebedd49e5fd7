"""The schema version, and the steps that bring an older index up to date.

Each step is a function applied in its own transaction, in order; the
version is stored in ``index_meta``. A new column is a new step using
peewee's portable ``playhouse.migrate`` operations.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee as pw

from .errors import DatabaseError
from .models import ALL_MODELS, MetaEntry

SCHEMA_VERSION_KEY = "schema_version"


def _create_v1(database: pw.Database) -> None:
    database.create_tables(ALL_MODELS, safe=True)


# Step N brings the schema from version N-1 to N.
STEPS: list[Callable[[pw.Database], None]] = [_create_v1]
LATEST = len(STEPS)


def current_version(database: pw.Database) -> int:
    if not database.table_exists(MetaEntry._meta.table_name):
        return 0
    row = MetaEntry.get_or_none(MetaEntry.key == SCHEMA_VERSION_KEY)
    return int(row.value) if row is not None else 0


def migrate(database: pw.Database) -> int:
    """Apply every pending step; the resulting version."""
    version = current_version(database)
    if version > LATEST:
        raise DatabaseError(
            f"the index has schema version {version}, newer than this "
            f"covalent-indexer understands ({LATEST}); upgrade covalent-indexer"
        )
    while version < LATEST:
        with database.atomic():
            STEPS[version](database)
            version += 1
            MetaEntry.insert(key=SCHEMA_VERSION_KEY, value=str(version)).on_conflict(
                conflict_target=[MetaEntry.key], preserve=[MetaEntry.value]
            ).execute()
    return version
