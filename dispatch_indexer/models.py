"""The index's tables, as peewee models bound to a database at run time.

The models are bound to ``database_proxy``; ``db.open_database`` chooses the
real database (SQLite or PostgreSQL) from a URL when an index opens. Every
field type here is portable: times are naive-UTC timestamps converted at the
boundary, JSON is stored as text.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import peewee as pw

database_proxy = pw.DatabaseProxy()


class UTCDateTimeField(pw.DateTimeField):
    """Aware UTC datetimes in, aware UTC datetimes out; naive UTC in the column."""

    def db_value(self, value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value: Any) -> Any:
        value = super().python_value(value)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class JSONTextField(pw.TextField):
    """JSON kept as text, so that both engines store it the same way."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class MetaEntry(BaseModel):
    """Key/value facts about the index itself, such as the schema version."""

    key = pw.CharField(primary_key=True, max_length=64)
    value = pw.TextField()

    class Meta:
        table_name = "index_meta"


class Root(BaseModel):
    """A registered results directory (mirrors the config file)."""

    path = pw.CharField(primary_key=True, max_length=4096)
    watch = pw.CharField(max_length=16, default="auto")
    added_at = UTCDateTimeField()


class Dispatch(BaseModel):
    """One dispatch, as read from the most recently written copy of it."""

    dispatch_id = pw.CharField(primary_key=True, max_length=255)
    status = pw.CharField(max_length=64, null=True, index=True)
    lattice_name = pw.CharField(max_length=1024, null=True, index=True)
    start_time = UTCDateTimeField(null=True)
    end_time = UTCDateTimeField(null=True)
    error = pw.TextField(null=True)
    num_nodes = pw.IntegerField(null=True)
    path = pw.TextField()
    results_dir = pw.TextField(index=True)
    pickled_results_dir = pw.TextField(null=True)
    root = pw.TextField(null=True, index=True)
    nodes = JSONTextField(null=True)
    result = JSONTextField(null=True)
    size = pw.BigIntegerField(null=True)
    mtime_ns = pw.BigIntegerField(null=True)
    inode = pw.BigIntegerField(null=True)
    sha256 = pw.CharField(max_length=64, null=True)
    unreadable = pw.TextField(null=True)
    missing = pw.BooleanField(default=False, index=True)
    source = pw.CharField(max_length=16, default="scan")
    first_seen = UTCDateTimeField()
    updated_at = UTCDateTimeField()
    # See DispatchRecord.last_event: with mtime_ns, picks the newest copy.
    last_event = UTCDateTimeField(null=True)
    # When result.pkl was last read successfully; None if it never was.
    read_at = UTCDateTimeField(null=True)
    # Newest-first order: the start time, or when the file was written for
    # dispatches that never started or could not be read.
    sort_time = UTCDateTimeField()

    class Meta:
        indexes = ((("sort_time", "dispatch_id"), False),)


class Location(BaseModel):
    """Every folder where a dispatch was found: its copies, moves and
    snapshots. The Dispatch row shows the newest; these rows let a rescan
    skip unchanged copies and fall back to another copy when one is deleted."""

    path = pw.CharField(primary_key=True, max_length=4096)
    dispatch_id = pw.CharField(max_length=255, index=True)
    root = pw.TextField(null=True, index=True)
    size = pw.BigIntegerField()
    mtime_ns = pw.BigIntegerField()
    inode = pw.BigIntegerField()
    last_event = UTCDateTimeField(null=True)
    unreadable = pw.TextField(null=True)
    seen_at = UTCDateTimeField()


class ResultBlob(BaseModel):
    """The raw result.pkl bytes of a dispatch, kept apart so that listing
    and scanning never page through them."""

    dispatch_id = pw.CharField(primary_key=True, max_length=255)
    data = pw.BlobField()
    sha256 = pw.CharField(max_length=64)


ALL_MODELS: list[type[BaseModel]] = [MetaEntry, Root, Dispatch, Location, ResultBlob]
