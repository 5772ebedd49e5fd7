"""The schema version, and the steps that bring an older index up to date.

Each step is a function applied in its own transaction, in order; the
version is stored in ``index_meta``. A new column is a new step using
peewee's portable ``playhouse.migrate`` operations. Processes that open one
index at once (several daemons on one PostgreSQL server, a daemon and a
command) take turns: ``db.lock_for_migration``.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee as pw

from ..errors import DatabaseError
from . import bulk, counters, fulltext, notified, sorting
from . import engine as db_mod
from .driver import LazyPlayhouseMigrate
from .models import (
    REREAD_MTIME_NS,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    BaseModel,
    CharField,
    Tables,
    TextField,
    UTCDateTimeField,
    schema_version,
)
from .sqlite import compat as sqlite_compat
from .sqlite import fulltext as sqlite_fulltext

# ``playhouse.migrate``, imported when a step first needs it: an index that
# is up to date (every command's start) never does.
schema = LazyPlayhouseMigrate()

# The columns each table gained in a later step. Step 1 creates every table
# as version 1 had it, that is today's model without these, and the later
# steps add them: a new index and an upgraded one are built by the very same
# steps, so they end up identical and no step has to ask the database which
# columns it already has. A step that adds a column lists it here.
ADDED_AFTER_V1: dict[str, tuple[str, ...]] = {
    "dispatch": (
        *("document", "hidden", "host"),  # steps 2 and 3
        *("origin", "parent_dispatch_id", "parent_node_id", "covalent_state"),  # step 7
        "folder_size",  # step 9
    ),
    "location": ("origin",),  # step 8
    "dispatch_count": ("bytes",),  # step 9
    "result_blob": ("encoding",),  # step 12
}
# The same for whole tables: step 1 leaves them out, their step creates them.
CREATED_AFTER_V1: frozenset[str] = frozenset(
    {"dispatch_count", "dispatch_tag", "dispatch_note"}  # steps 5 and 9
)


# The tables step 3 keyed anew, by (host, path) instead of path, as version 1
# (and 2) had them: frozen history, never edited with the models.
class _RootV1(BaseModel):
    path = CharField(primary_key=True, max_length=4096)
    watch = CharField(max_length=16, default="auto")
    added_at = UTCDateTimeField()

    class Meta:
        table_name = "root"


class _LocationV1(BaseModel):
    path = CharField(primary_key=True, max_length=4096)
    dispatch_id = CharField(max_length=255, index=True)
    root = TextField(null=True, index=True)
    size = pw.BigIntegerField()
    mtime_ns = pw.BigIntegerField()
    inode = pw.BigIntegerField()
    last_event = UTCDateTimeField(null=True)
    unreadable = TextField(null=True)
    seen_at = UTCDateTimeField()

    class Meta:
        table_name = "location"


REKEYED_IN_V3: dict[str, type[BaseModel]] = {"root": _RootV1, "location": _LocationV1}


def _as_of_v1(model: type[BaseModel]) -> type[BaseModel]:
    table = model._meta.table_name
    meta = type("Meta", (), {"database": model._meta.database, "table_name": table})
    if table in REKEYED_IN_V3:
        return type(f"{model.__name__}V1", (REKEYED_IN_V3[table],), {"Meta": meta})
    return _without_later(model, "V1")


def _without_later(model: type[BaseModel], suffix: str) -> type[BaseModel]:
    """``model`` without the columns later steps add (``ADDED_AFTER_V1``)."""
    table = model._meta.table_name
    later = ADDED_AFTER_V1.get(table)
    if not later:
        return model
    options: dict[str, object] = {"database": model._meta.database, "table_name": table}
    key = model._meta.primary_key
    if isinstance(key, pw.CompositeKey):  # its own, not re-bound from ``model``
        options["primary_key"] = pw.CompositeKey(*key.field_names)
    meta = type("Meta", (), options)
    older = type(f"{model.__name__}{suffix}", (model,), {"Meta": meta, "__module__": __name__})
    for name in later:
        older._meta.remove_field(name)
    # ... and the indexes on them, which their steps create (a partial
    # index, a ModelIndex, is on none of them).
    older._meta.indexes = [
        index
        for index in older._meta.indexes
        if not (isinstance(index, tuple) and set(index[0]) & set(later))
    ]
    return older


def _create_v1(database: pw.Database, tables: Tables, host: str) -> None:
    models = [m for m in tables.all if m._meta.table_name not in CREATED_AFTER_V1]
    database.create_tables([_as_of_v1(model) for model in models], safe=True)


def _add_document_and_hidden(database: pw.Database, tables: Tables, host: str) -> None:
    """Covalent's UI document of each dispatch and the hidden flag; on
    SQLite, the ``dispatches`` view Covalent's own UI reads (``sqlite.compat``)."""
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
    tables.Location.update(mtime_ns=REREAD_MTIME_NS).execute()
    sqlite_compat.install(database)


def _add_hosts(database: pw.Database, tables: Tables, host: str) -> None:
    """Several machines, one index: the host of every record, root and
    location. What an index held before was found by the host that upgrades
    it. Roots and locations are keyed by (host, path), since one path on two
    machines is two folders; path columns compare byte by byte on every
    engine (``db.byte_ordered``)."""
    dispatch = tables.Dispatch
    migrator = schema.SchemaMigrator.from_database(database)
    schema.migrate(
        migrator.add_column("dispatch", "host", dispatch.host, allow_not_null=True),
        migrator.add_index("dispatch", ("host", "root"), False),
    )
    dispatch.update(host=host).execute()
    db_mod.byte_ordered(database, "dispatch", ("path", "results_dir"))
    for model in (tables.Root, tables.Location):
        _rekey(database, model, host)


def _rekey(database: pw.Database, model: type[BaseModel], host: str) -> None:
    """Rebuild a table of version 1's shape as ``model`` (keyed by host and
    path), its rows kept and given ``host``."""
    table = model._meta.table_name
    before = _as_of_v1(model)
    kept = f"{table}_before_v3"
    columns = ", ".join(f'"{field.column_name}"' for field in before._meta.sorted_fields)
    # Every name here comes from the models, none from outside.
    database.execute_sql(f'CREATE TABLE "{kept}" AS SELECT * FROM "{table}"')  # noqa: S608
    database.drop_tables([before])  # with its indexes, whose names the new ones take
    # As step 3 made it: the columns later steps add come with those steps.
    database.create_tables([_without_later(model, "V3")])
    db_mod.byte_ordered(database, table, ("path",))
    copy = f'INSERT INTO "{table}" ("host", {columns}) SELECT {database.param}, {columns} FROM "{kept}"'  # noqa: S608, E501
    database.execute_sql(copy, (host,))
    database.execute_sql(f'DROP TABLE "{kept}"')


def _drop_hidden_index(database: pw.Database, tables: Tables, host: str) -> None:
    # Step 2 indexed ``hidden`` alone; listings filter on it, and a planner
    # without statistics chose it and sorted every row (seconds at 1M).
    database.execute_sql('DROP INDEX IF EXISTS "dispatch_hidden"')


def _add_dispatch_count(database: pw.Database, tables: Tables, host: str) -> None:
    """Dispatches by host, status, hidden and missing, kept by triggers on
    the dispatch table (``counters``), so that counts read a few rows rather
    than every dispatch; the dispatches already there are counted once now."""
    database.create_tables([_without_later(tables.DispatchCount, "V5")])
    counters.install(database)
    counters.seed(database)


def _add_listing_index(database: pw.Database, tables: Tables, host: str) -> None:
    """Provisional records (``scan.listing``) are looked for after every full scan:
    a partial index finds them however many records there are, and costs
    nothing once they are read."""
    database.execute_sql(
        'CREATE INDEX "dispatch_listing" ON "dispatch" ("host", "path") '
        "WHERE \"source\" = 'listing'"
    )


def _add_origins(database: pw.Database, tables: Tables, host: str) -> None:
    """Every Covalent generation in one index: what each record was read
    from (a server's database, a result.pkl, a client's caches), its parent
    dispatch if it is a sub-workflow, and what Covalent's database says of
    it now. All nullable: the rows already there are result.pkl reads."""
    dispatch = tables.Dispatch
    table = dispatch._meta.table_name
    migrator = schema.SchemaMigrator.from_database(database)
    schema.migrate(
        *(
            migrator.add_column(table, name, getattr(dispatch, name))
            for name in ("origin", "parent_dispatch_id", "parent_node_id", "covalent_state")
        )
    )


def _add_location_origins(database: pw.Database, tables: Tables, host: str) -> None:
    """One dispatch from several sources: what each copy was read from, so
    that the best copy left is shown when the one shown goes (``forget``);
    and the sub-workflows of a dispatch found by an index on their parent.
    The locations already there are result.pkl and server reads, which
    rank first either way (NULL)."""
    migrator = schema.SchemaMigrator.from_database(database)
    schema.migrate(
        migrator.add_column("location", "origin", tables.Location.origin),
        migrator.add_index("dispatch", ("parent_dispatch_id",), False),
    )


def _add_search_sort_labels(database: pw.Database, tables: Tables, host: str) -> None:
    """Everyday use at a million records: the user's tags and notes, each
    folder's size (summed by the count table's triggers: ``counters``), an
    index behind every sort (``sorting``) and the text index
    (``fulltext``), filled from the dispatches already there. Sizes come
    with the next read: make the next scan read every copy again."""
    migrator = schema.SchemaMigrator.from_database(database)
    schema.migrate(
        migrator.add_column("dispatch", "folder_size", tables.Dispatch.folder_size),
        migrator.add_column(
            "dispatch_count", "bytes", tables.DispatchCount.bytes, allow_not_null=True
        ),
    )
    counters.add_sizes(database)
    database.create_tables([tables.Tag, tables.Note])
    sorting.install(database)
    fulltext.install(database)
    tables.Location.update(mtime_ns=REREAD_MTIME_NS).execute()


def _add_change_feed(database: pw.Database, tables: Tables, host: str) -> None:
    """Records in the order they were last written (``changes``: ``list
    --follow`` and the daemon's notifiers), and what the notifiers sent,
    so that each notification goes out once across restarts (``notified``)."""
    database.execute_sql(
        'CREATE INDEX "dispatch_changed" ON "dispatch" ("updated_at", "dispatch_id")'
    )
    database.execute_sql(notified.CREATE)


def _gate_text_index(database: pw.Database, tables: Tables, host: str) -> None:
    """A bulk build writes no text row row by row (``bulk``): the SQLite
    text index's triggers on inserts and updates read whether one is on."""
    if not db_mod.is_postgres(database):
        sqlite_fulltext.gate_triggers(database)


def _add_blob_encoding(database: pw.Database, tables: Tables, host: str) -> None:
    """Stored bytes may be held compressed (``models.ResultBlob.encoding``);
    the rows already there are not (NULL)."""
    migrator = schema.SchemaMigrator.from_database(database)
    schema.migrate(
        migrator.add_column("result_blob", "encoding", tables.ResultBlob.encoding),
    )


Step = Callable[[pw.Database, Tables, str], None]
# Step N brings the schema from version N-1 to N; each is given the bound
# tables and the host of the process that applies it.
STEPS: list[Step] = [
    _create_v1,
    _add_document_and_hidden,
    _add_hosts,
    _drop_hidden_index,
    _add_dispatch_count,
    _add_listing_index,
    _add_origins,
    _add_location_origins,
    _add_search_sort_labels,
    _add_change_feed,
    _gate_text_index,
    _add_blob_encoding,
]
LATEST = len(STEPS)
if LATEST != SCHEMA_VERSION:
    raise RuntimeError(f"models.SCHEMA_VERSION is {SCHEMA_VERSION}: set it to {LATEST}")


def current_version(database: pw.Database, tables: Tables) -> int:
    return schema_version(database, tables.MetaEntry)


def migrate(database: pw.Database, tables: Tables, host: str | None = None) -> int:
    """Apply every pending step; the resulting version. ``host`` is the host
    rows of an older index are credited to (default: this machine's name)."""
    if host is None:
        from ..config import default_host

        host = default_host()
    meta = tables.MetaEntry
    version = current_version(database, tables)
    if version > LATEST:
        raise DatabaseError(
            f"the index has schema version {version}, newer than this "
            f"covalent-indexer understands ({LATEST}); upgrade covalent-indexer"
        )
    if 0 < version < LATEST and not db_mod.is_postgres(database):
        # A bulk build cut short left indexes set aside (``bulk``): back
        # before any step, which may expect them.
        with database.atomic():
            bulk.restore_set_aside(database)
    while version < LATEST:
        with database.atomic():
            # Another process opening the same index may have applied this
            # step while we waited for the lock (SQLite transactions here take
            # the write lock as they begin; PostgreSQL takes an advisory lock);
            # steps need not be idempotent.
            db_mod.lock_for_migration(database)
            version = current_version(database, tables)
            if version >= LATEST:
                break
            STEPS[version](database, tables, host)
            version += 1
            meta.insert(key=SCHEMA_VERSION_KEY, value=str(version)).on_conflict(
                conflict_target=[meta.key], preserve=[meta.value]
            ).execute()
    return version
