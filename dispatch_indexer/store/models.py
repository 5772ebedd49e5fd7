"""The index's tables, as peewee models bound to a database at run time.

The models here are unbound templates. ``bind(database)`` makes a set of
subclasses bound to one database, so that every open index (one per
process, or several: a daemon and a reader in one test) has its own and
none re-points another's. Every field type here is portable: times are
naive-UTC timestamps converted at the boundary, JSON is stored as text.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import peewee as pw

from ..config import HOST_MAX_LENGTH
from ..text import storable, storable_json


class UTCDateTimeField(pw.DateTimeField):
    """Aware UTC datetimes in, aware UTC datetimes out; naive UTC in the column."""

    # Converted values, by value: a batch writes the same few times in row
    # after row (when it was read, the minute Covalent wrote), and a scan
    # of 100,000 dispatches spent a second converting them one by one.
    _converted: ClassVar[dict[tuple[bool, dt.datetime], Any]] = {}

    def db_value(self, value: Any) -> Any:
        if not isinstance(value, dt.datetime):
            return super().db_value(value)
        sqlite = isinstance(self.model._meta.database, pw.SqliteDatabase)
        converted = self._converted.get((sqlite, value))
        if converted is None:
            if len(self._converted) > 4096:
                self._converted.clear()
            naive = value
            if value.tzinfo is not None:
                naive = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            converted = super().db_value(naive)
            if sqlite:
                # The text sqlite3's default adapter makes of a datetime (an
                # adapter deprecated since Python 3.12), made here once.
                converted = converted.isoformat(" ")
            self._converted[sqlite, value] = converted
        return converted

    def fast_db_value(self) -> Callable[[Any], Any]:
        """``db_value``, the engine looked up once (``statements.converter``)."""
        converted, db_value = self._converted, self.db_value
        sqlite = isinstance(self.model._meta.database, pw.SqliteDatabase)

        def convert(value: Any) -> Any:
            if value is None:
                return None
            done = converted.get((sqlite, value)) if type(value) is dt.datetime else None
            return done if done is not None else db_value(value)

        return convert

    def python_value(self, value: Any) -> Any:
        value = super().python_value(value)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


def _fast_text(db_value: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``db_value`` of a text column, but None and ASCII text without NUL
    (nearly every value: ``storable`` leaves them as they are) at once."""

    def convert(value: Any) -> Any:
        if value is None or (type(value) is str and value.isascii() and "\x00" not in value):
            return value
        return db_value(value)

    return convert


class TextField(pw.TextField):
    """Text; a string that is not valid Unicode (a file name that is not
    UTF-8, a lone surrogate from a pickle) is stored escaped (``text``)."""

    def db_value(self, value: Any) -> Any:
        value = super().db_value(value)
        return storable(value) if isinstance(value, str) else value

    def fast_db_value(self) -> Callable[[Any], Any]:
        return _fast_text(self.db_value)


class CharField(pw.CharField):
    """``TextField``'s rule, for a column with a length."""

    def db_value(self, value: Any) -> Any:
        value = super().db_value(value)
        return storable(value) if isinstance(value, str) else value

    def fast_db_value(self) -> Callable[[Any], Any]:
        return _fast_text(self.db_value)


class EncodedJSON(str):
    """JSON text already made by ``storable_json``: stored as it is."""


class JSONTextField(pw.TextField):
    """JSON kept as text, so that both engines store it the same way."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, EncodedJSON):
            return str(value)
        return storable_json(value)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        legacy_table_names = False


class MetaEntry(BaseModel):
    """Key/value facts about the index itself, such as the schema version."""

    key = CharField(primary_key=True, max_length=64)
    value = TextField()

    class Meta:
        table_name = "index_meta"


SCHEMA_VERSION_KEY = "schema_version"
# The schema this code reads and writes: ``len(migrations.STEPS)``, which
# checks it. Kept here so that opening an index already at it (every
# command's start) need not import the migrations.
SCHEMA_VERSION = 12


def schema_version(database: pw.Database, meta: type[MetaEntry]) -> int:
    """The version an index's ``index_meta`` says it is at (0: a new one)."""
    if not database.table_exists(meta._meta.table_name):
        return 0
    row = meta.get_or_none(meta.key == SCHEMA_VERSION_KEY)
    return int(row.value) if row is not None else 0


# The host (machine) that indexed a row: ``Config.host``, the hostname by
# default. Several machines can share one index (on PostgreSQL); each owns
# the roots and the locations it found, and the same path on two hosts is
# two different folders. Its longest, HOST_MAX_LENGTH, is config's: the
# config checks a host name against it, and config imports no peewee.


class Root(BaseModel):
    """A registered results directory of one host (mirrors its config file)."""

    # Keyed by (host, path) since migration step 3, by path alone before.
    host = CharField(max_length=HOST_MAX_LENGTH)
    path = CharField(max_length=4096)
    watch = CharField(max_length=16, default="auto")
    added_at = UTCDateTimeField()

    class Meta:
        primary_key = pw.CompositeKey("host", "path")


class Dispatch(BaseModel):
    """One dispatch, as read from the most recently written copy of it."""

    dispatch_id = CharField(primary_key=True, max_length=255)
    status = CharField(max_length=64, null=True)
    lattice_name = CharField(max_length=1024, null=True)
    start_time = UTCDateTimeField(null=True)
    end_time = UTCDateTimeField(null=True)
    error = TextField(null=True)
    num_nodes = pw.IntegerField(null=True)
    path = TextField()
    results_dir = TextField()
    pickled_results_dir = TextField(null=True)
    root = TextField(null=True, index=True)
    nodes = JSONTextField(null=True)
    result = JSONTextField(null=True)
    size = pw.BigIntegerField(null=True)
    mtime_ns = pw.BigIntegerField(null=True)
    inode = pw.BigIntegerField(null=True)
    sha256 = CharField(max_length=64, null=True)
    unreadable = TextField(null=True)
    missing = pw.BooleanField(default=False)
    source = CharField(max_length=16, default="scan")
    first_seen = UTCDateTimeField()
    updated_at = UTCDateTimeField()
    # See DispatchRecord.last_event: with mtime_ns, picks the newest copy.
    last_event = UTCDateTimeField(null=True)
    # When result.pkl was last read successfully; None if it never was.
    read_at = UTCDateTimeField(null=True)
    # Newest-first order: the start time, or when the file was written for
    # dispatches that never started or could not be read.
    sort_time = UTCDateTimeField()
    # -- added by migration step 2 (see migrations.py) --
    # Covalent's UI document of the dispatch (``read.document``), as JSON text.
    # Only result_document() needs it; listings select other columns.
    document = JSONTextField(null=True)
    # Hidden from listings (Covalent's UI "delete"); nothing is deleted. The
    # DEFAULT in the schema lets the column be added NOT NULL in one step and
    # gives it a value in rows written outside peewee.
    # Not indexed on its own: nearly every row is not hidden, and a planner
    # without statistics would pick that index and sort the whole table.
    hidden = pw.BooleanField(default=False, constraints=[pw.SQL("DEFAULT FALSE")])
    # -- added by migration step 3 --
    # The host whose copy is shown (see Root); "" only in a row written
    # outside covalent-indexer.
    host = CharField(max_length=HOST_MAX_LENGTH, default="", constraints=[pw.SQL("DEFAULT ''")])
    # records.ORIGINS (None: read from a result.pkl before origins were kept).
    origin = CharField(max_length=32, null=True)
    # A sub-workflow's parent dispatch and the parent's task that ran it.
    parent_dispatch_id = CharField(max_length=255, null=True)
    parent_node_id = pw.IntegerField(null=True)
    # records.COVALENT_STATES, for a record read from a server's database.
    covalent_state = CharField(max_length=16, null=True)
    # -- added by migration step 9 --
    # Bytes in the dispatch's folder, all files (``read.disksize``); None
    # until a read measured it.
    folder_size = pw.BigIntegerField(null=True)

    class Meta:
        # Each filter of a listing, followed by the listing order, so that a
        # filtered page is an index range scan, never a table scan.
        indexes = (
            (("sort_time", "dispatch_id"), False),
            (("status", "sort_time", "dispatch_id"), False),
            (("lattice_name", "sort_time", "dispatch_id"), False),
            (("results_dir", "sort_time", "dispatch_id"), False),
            # A host's records under one of its roots (step 3).
            (("host", "root"), False),
            # The sub-workflows of a dispatch (step 8).
            (("parent_dispatch_id",), False),
        )


class Location(BaseModel):
    """Every folder where a dispatch was found: its copies, moves and
    snapshots. The Dispatch row shows the newest; these rows let a rescan
    skip unchanged copies and fall back to another copy when one is deleted.
    Only the host that found a folder reads, updates or forgets its row."""

    # Keyed by (host, path) since migration step 3, by path alone before.
    host = CharField(max_length=HOST_MAX_LENGTH)
    path = CharField(max_length=4096)
    dispatch_id = CharField(max_length=255, index=True)
    root = TextField(null=True)
    size = pw.BigIntegerField()
    mtime_ns = pw.BigIntegerField()
    inode = pw.BigIntegerField()
    last_event = UTCDateTimeField(null=True)
    unreadable = TextField(null=True)
    seen_at = UTCDateTimeField()
    # -- added by migration step 8 --
    # records.ORIGINS of this copy (None: a result.pkl's, or a server's read
    # before step 8; both rank first): when the copy shown is gone, the
    # most authoritative copy left is shown (``forget``).
    origin = CharField(max_length=32, null=True)

    class Meta:
        primary_key = pw.CompositeKey("host", "path")
        indexes = ((("host", "root"), False),)


# A location's mtime_ns that no real file has: its host is to read that
# folder again (``forget.reread_requests``). A partial index finds those
# few rows however many locations there are.
REREAD_MTIME_NS = -1
Location.add_index(
    Location.index(Location.host, name="location_reread").where(
        Location.mtime_ns == REREAD_MTIME_NS
    )
)


class ResultBlob(BaseModel):
    """The raw result.pkl bytes of a dispatch, kept apart so that listing
    and scanning never page through them."""

    dispatch_id = CharField(primary_key=True, max_length=255)
    data = pw.BlobField()
    # Of the bytes as read (``data`` may hold them compressed).
    sha256 = CharField(max_length=64)
    # -- added by migration step 12 --
    # How ``data`` holds the bytes: None as they are, else the codec
    # (``read.compressed``: ``"zstd"`` since session 9, ``"zlib"`` before;
    # a reader process compresses what it read).
    encoding = CharField(max_length=16, null=True)


class DispatchCount(BaseModel):
    """Dispatches by (host, root, status, hidden, missing), as a log of
    deltas that triggers on ``dispatch`` append to (``counters``; migration
    step 5), so that counting a million records reads a few rows.

    A model like the others, although only triggers write it: reading it is
    then an ordinary portable query (``read.counts``), and the table is made
    by the same DDL as the rest. The triggers and the folding of the log are
    SQL of each engine, in ``counters``.
    """

    host = CharField(max_length=HOST_MAX_LENGTH)
    # The root the shown copy was found under, for the record counts of a
    # host's roots (``read.count_by_root``); None as in Dispatch.root.
    root = TextField(null=True)
    # "" for a dispatch without a status (counted as "UNKNOWN").
    status = CharField(max_length=64)
    hidden = pw.BooleanField()
    missing = pw.BooleanField()
    # +1 for a row that came to have this key, -1 for one that left it.
    n = pw.BigIntegerField()
    # -- added by migration step 9 --
    # The bytes in the folder of that row, with the same sign: disk use.
    bytes = pw.BigIntegerField(default=0, constraints=[pw.SQL("DEFAULT 0")])

    class Meta:
        table_name = "dispatch_count"
        # Rows are appended and folded, never looked up one by one: no key.
        # SQLite's rowid still orders them for the fold (counters).
        primary_key = False


class Tag(BaseModel):
    """A user's tag on a dispatch (step 9). Ours, not Covalent's: keyed by
    dispatch id alone, with no link to the dispatch row, so that a rescan,
    a move or a forget and re-find never loses it."""

    dispatch_id = CharField(max_length=255)
    tag = CharField(max_length=255)
    added_at = UTCDateTimeField()

    class Meta:
        table_name = "dispatch_tag"
        primary_key = pw.CompositeKey("dispatch_id", "tag")
        # ``list --tag``: a tag's dispatches.
        indexes = ((("tag", "dispatch_id"), False),)


class Note(BaseModel):
    """A user's note on a dispatch (step 9), kept as tags are."""

    dispatch_id = CharField(primary_key=True, max_length=255)
    text = TextField()
    updated_at = UTCDateTimeField()

    class Meta:
        table_name = "dispatch_note"


class Tables:
    """The models bound to one database. Each is bound when first used:
    binding copies every field of the template (peewee deep-copies them),
    and a command that reads one table need not pay for all eight."""

    MetaEntry: type[MetaEntry]
    Root: type[Root]
    Dispatch: type[Dispatch]
    Location: type[Location]
    ResultBlob: type[ResultBlob]
    DispatchCount: type[DispatchCount]
    Tag: type[Tag]
    Note: type[Note]

    def __init__(self, database: pw.Database) -> None:
        self._database = database

    def __getattr__(self, name: str) -> Any:
        template = _TEMPLATES.get(name)
        if template is None:
            raise AttributeError(name)
        with _BINDING:  # one class per table: a query that met two would see two tables
            model = self.__dict__.get(name)
            if model is None:
                model = _bound(template, self._database)
                setattr(self, name, model)  # found in the instance from now on
        return model

    @property
    def all(self) -> list[type[BaseModel]]:
        return [getattr(self, name) for name in _TEMPLATES]


_BINDING = threading.Lock()
_TEMPLATES: dict[str, type[BaseModel]] = {
    "MetaEntry": MetaEntry,
    "Root": Root,
    "Dispatch": Dispatch,
    "Location": Location,
    "ResultBlob": ResultBlob,
    "DispatchCount": DispatchCount,
    "Tag": Tag,
    "Note": Note,
}


def _bound(model: type[BaseModel], database: pw.Database) -> Any:
    options: dict[str, Any] = {"database": database, "table_name": model._meta.table_name}
    key = model._meta.primary_key
    if isinstance(key, pw.CompositeKey):  # its own, not bound to the template
        options["primary_key"] = pw.CompositeKey(*key.field_names)
    meta = type("Meta", (), options)
    return type(model.__name__, (model,), {"Meta": meta, "__module__": __name__})


def bind(database: pw.Database) -> Tables:
    return Tables(database)
