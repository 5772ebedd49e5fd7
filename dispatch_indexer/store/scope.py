"""What every part of the store works with: the database, its tables, the
host it writes for, and the write statements compiled for them; and the
small query helpers the parts share.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import peewee as pw

from . import counters
from .models import Tables
from .statements import Compiled

# SQLite allows 999 (older builds) bound parameters per statement.
IN_CHUNK = 500

# Builds one write statement: the model it writes and peewee's query, with
# ``statements.slots`` standing for the values.
Build = Callable[["Scope"], tuple[type[pw.Model], pw.Query]]


@dataclass
class Scope:
    database: pw.Database
    tables: Tables
    # The machine this store writes for: the roots and locations it
    # registers, scans, marks missing and forgets are its own; a path is
    # only ever looked at on the disk of the host that found it. Set again
    # when the config is reloaded, so the parts read it here each time.
    host: str
    _compiled: dict[Build, Compiled] = dataclasses.field(default_factory=dict)

    def statement(self, build: Build) -> Compiled:
        """The write statement ``build`` makes, built on first use (``statements``)."""
        compiled = self._compiled.get(build)
        if compiled is None:
            model, query = build(self)
            compiled = self._compiled[build] = Compiled(self.database, model, query)
        return compiled

    def compact_counts(self, threshold: int = counters.FOLD_AT) -> bool:
        """Fold the count table's log into one row per key, if it is longer
        than ``threshold`` rows; whether it was folded. Costs a read of at
        most ``threshold`` small rows when there is nothing to do. Meant for
        the end of a write transaction, which it joins (on SQLite, it takes
        the write lock only when there is something to fold)."""
        if not counters.due(self.database, threshold):
            return False
        with self.database.atomic():
            return counters.fold(self.database)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def chunks(items: list[str], size: int = IN_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def under_range(field: pw.Field, folder: str) -> pw.Expression:
    """``field`` is ``folder`` or inside it, as a range an index can serve:
    every path inside "/a/b" sorts between "/a/b/" and "/a/b0" ("0" follows "/")."""
    folder = folder.rstrip("/") or "/"
    if folder == "/":
        return field.startswith("/")
    return (field == folder) | ((field >= folder + "/") & (field < folder + "0"))
