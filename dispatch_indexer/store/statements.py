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

A batch of rows runs in few calls to the driver. On SQLite an INSERT of
one row's VALUES is run as INSERTs of many rows each (``run_rows``): sqlite3's
``executemany`` takes the GIL back between rows, and a thread writing that
way while another walks the disk (the listing pass) spent most of its time
waiting for it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
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


# Rows of parameters, each in the order of a statement's placeholders.
Rows = list[Sequence[Any]]
# Rows per statement of ``run_rows`` on SQLite, at most (fewer if its limit
# on bound parameters is lower).
ROWS_PER_STATEMENT = 500
# peewee's single-row INSERT on SQLite: its VALUES, repeated for many rows.
_VALUES = re.compile(r"VALUES (\(\?(?:, \?)*\))")


def _many_rows(sql: str) -> Callable[[int], str] | None:
    """The INSERT ``sql`` of one row as one of ``n`` rows; None if it is not
    an INSERT whose every placeholder is in its one VALUES row."""
    match = _VALUES.search(sql)
    if match is None or not sql.startswith("INSERT") or sql.count("?") != match[1].count("?"):
        return None
    head, row, tail = sql[: match.start(1)], match[1], sql[match.end(1) :]
    return lambda n: head + ", ".join([row] * n) + tail


def _variable_limit(database: pw.SqliteDatabase) -> int:
    getlimit = getattr(database.connection(), "getlimit", None)
    if getlimit is None:  # Python before 3.11
        return 999
    import sqlite3

    return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


Bind = tuple[Callable[[Any], Any] | None, Any]
_INTEGERS = (pw.IntegerField, pw.BigIntegerField)
# What peewee's own execute wraps the driver's call in: its errors raised as
# peewee's (``engine.retrying_transaction`` and the callers catch those).
_ERRORS_AS_PEEWEES = pw.__exception_wrapper__


def converter(field: pw.Field) -> Callable[[Any], Any]:
    """``field.db_value``, or a shortcut to the same value for what a write
    binds most (None, an int, a plain ASCII text): peewee's ``db_value``
    goes through two or three calls per value, and a dispatch row has 33."""
    db_value = field.db_value
    fast = getattr(field, "fast_db_value", None)
    if fast is not None:
        return fast()  # type: ignore[no-any-return]
    if type(field) in _INTEGERS:
        return lambda value: value if value is None or type(value) is int else db_value(value)
    if type(field) is pw.BooleanField:
        return lambda value: value if value is None or type(value) is bool else db_value(value)
    return db_value


def _fixed(bind: Bind, shared: Mapping[str, Any]) -> Bind:
    """``bind`` as a constant, if it is a column whose value ``shared`` gives."""
    convert, name = bind
    if convert is None or name not in shared:
        return bind
    return None, convert(shared[name])


class Compiled:
    """One statement, and how to bind a row's values to it."""

    def __init__(self, database: pw.Database, model: type[pw.Model], query: pw.Query) -> None:
        self.database = database
        self.sql, params = query.sql()
        # (converter, column) for a row's value, (None, value) for a constant
        # peewee put in the statement (a default, a literal of a condition).
        self._binds: list[Bind] = []
        for param in params:
            if isinstance(param, Slot):
                self._binds.append((converter(model._meta.fields[param.name]), param.name))
            else:
                self._binds.append((None, param))
        self._many = _many_rows(self.sql) if isinstance(database, pw.SqliteDatabase) else None
        self.rows_per_statement = 1
        if self._many is not None:
            per_row = max(1, len(params))
            self.rows_per_statement = max(
                1, min(ROWS_PER_STATEMENT, _variable_limit(database) // per_row)
            )

    @property
    def binds(self) -> list[Bind]:
        """Per placeholder: (converter, column) for a row's value, (None,
        value) for a constant peewee put in the statement."""
        return self._binds

    def params(self, row: Mapping[str, Any]) -> list[Any]:
        return [
            convert(row[name]) if convert is not None else name for convert, name in self._binds
        ]

    def binder(self, shared: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], list[Any]]:
        """``params`` for rows that all have ``shared``'s values (converted
        once, here), given the rest."""
        binds = [_fixed(bind, shared) for bind in self._binds]
        # The constants after the last value a row gives (an upsert's
        # conditions), appended as they are.
        last = max((i for i, (convert, _) in enumerate(binds) if convert is not None), default=-1)
        head, tail = binds[: last + 1], [constant for _, constant in binds[last + 1 :]]

        def bind(row: Mapping[str, Any]) -> list[Any]:
            values = [convert(row[name]) if convert is not None else name for convert, name in head]
            return values + tail

        return bind

    def run_rows(self, rows: Rows) -> int:
        """Execute for each row of parameters, in order; how many rows were
        written in all. On SQLite an INSERT runs as INSERTs of
        ``rows_per_statement`` rows each, else as one ``executemany``."""
        if not rows:
            return 0
        if self._many is None:
            with _ERRORS_AS_PEEWEES:
                cursor = self.database.cursor()
                cursor.executemany(self.sql, rows)
            return int(cursor.rowcount)
        written = 0
        per = self.rows_per_statement
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            flat = list(itertools.chain.from_iterable(chunk))
            written += self.database.execute_sql(self._many(len(chunk)), flat).rowcount
        return written

    def run(self, row: Mapping[str, Any]) -> int:
        """Execute for one row; how many rows it wrote."""
        return self.run_params(self.params(row))

    def run_params(self, params: list[Any]) -> int:
        """Execute with these parameters (``params``, ``binder``); how many
        rows it wrote. The driver's cursor straight, errors as peewee's:
        peewee's own path (query logging, hooks) cost as much again as
        binding the row."""
        with _ERRORS_AS_PEEWEES:
            cursor = self.database.cursor()
            cursor.execute(self.sql, params)
        return cursor.rowcount

    def select_each(self, values: list[Any]) -> list[tuple[Any, ...]]:
        """The rows of a query whose every value is of one column (an IN
        list), given those values in order."""
        given = iter(values)
        params = [convert(next(given)) if convert else name for convert, name in self._binds]
        with _ERRORS_AS_PEEWEES:
            cursor = self.database.cursor()
            cursor.execute(self.sql, params)
        return list(cursor.fetchall())

    def run_many(self, params: list[list[Any]]) -> None:
        """Execute once per row of parameters, in order, in one call to the
        driver (for statements whose rows' counts do not matter)."""
        if not params:
            return
        with _ERRORS_AS_PEEWEES:
            self.database.cursor().executemany(self.sql, params)
