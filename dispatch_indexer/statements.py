"""Write statements built by peewee once, then run with plain parameters.

Building a query is the expensive part of a peewee write: for the
conditional upsert of a dispatch it took about 3 ms per row, some fifty
times what the database needed to run it, and a cold build of 100,000
dispatches spent most of its time there. The statements a batch runs are
the same every time but for their values, so each is built once per table
with named ``Slot`` placeholders standing for the values; running it
converts a row's values with the columns' own ``db_value`` (exactly what
peewee would have done) and hands the SQL text to the driver as it is.
peewee stays the one author of the SQL, on both engines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import peewee as pw


class Slot:
    """Where a row's value for one column goes in a compiled statement."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


def slots(names: list[str]) -> dict[str, pw.Node]:
    """A row for ``model.insert`` whose every value is a placeholder."""
    return {name: pw.Value(Slot(name), converter=False) for name in names}


class Compiled:
    """One statement, and how to bind a row's values to it."""

    def __init__(self, database: pw.Database, model: type[pw.Model], query: pw.Query) -> None:
        self.database = database
        self.sql, params = query.sql()
        # (converter, column) for a row's value, (None, value) for a constant
        # peewee put in the statement (a default, a literal of a condition).
        self._binds: list[tuple[Callable[[Any], Any] | None, Any]] = []
        for param in params:
            if isinstance(param, Slot):
                self._binds.append((model._meta.fields[param.name].db_value, param.name))
            else:
                self._binds.append((None, param))

    def params(self, row: Mapping[str, Any]) -> list[Any]:
        return [
            convert(row[name]) if convert is not None else name for convert, name in self._binds
        ]

    def run_many(self, rows: list[Mapping[str, Any]]) -> int:
        """Execute for each row, in one call to the driver; how many rows
        were written in all."""
        cursor = self.database.cursor()
        cursor.executemany(self.sql, [self.params(row) for row in rows])
        return cursor.rowcount

    def run(self, row: Mapping[str, Any]) -> int:
        """Execute for one row; how many rows it wrote."""
        cursor = self.database.execute_sql(self.sql, self.params(row))
        return cursor.rowcount
