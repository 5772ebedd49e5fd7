"""peewee without PostgreSQL's driver, until a ``postgresql://`` URL needs it.

peewee imports every PostgreSQL driver it finds when it is first imported
(and playhouse's modules do again): psycopg 3 alone costs about 80 ms, which
every SQLite user would pay on every command. So the store imports peewee
with the drivers hidden (``import_peewee``, from ``store/__init__``; so are
playhouse's modules, ``LazyPlayhouseMigrate``), and
``engine`` hands psycopg to peewee the first time a PostgreSQL database is
opened (``load_psycopg``), setting what peewee's own import would have set.
Tied to peewee 4's module layout, which pyproject pins.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from ..errors import MissingDependencyError

_DRIVERS = ("psycopg", "psycopg2", "psycopg2cffi")
INSTALL_HINT = "pip install 'covalent-indexer[postgresql]'"


def import_peewee() -> None:
    """Import peewee, drivers hidden."""
    with _drivers_hidden():
        import peewee  # noqa: F401


class LazyPlayhouseMigrate:
    """``playhouse.migrate`` (which pulls in ``postgres_ext`` and with it the
    drivers), imported, drivers hidden, when an attribute is first asked for."""

    def __getattr__(self, name: str) -> Any:
        with _drivers_hidden():
            from playhouse import migrate
        return getattr(migrate, name)


@contextlib.contextmanager
def _drivers_hidden() -> Iterator[None]:
    """Make importing a driver fail, unless one is loaded already (then
    there is nothing to save, and peewee should have it)."""
    if any(sys.modules.get(d) is not None for d in _DRIVERS):
        yield
        return
    hidden = [d for d in _DRIVERS if d not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment] - makes its import fail
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name) is None:
                del sys.modules[name]


def load_psycopg() -> None:
    """Give peewee psycopg 3, as if it had found it when imported; a
    ``MissingDependencyError`` saying how to install it when it is missing."""
    import peewee

    if peewee.psycopg is not None:
        return
    try:
        import psycopg
        from psycopg.pq import TransactionStatus
        from psycopg.types import TypeInfo
        from psycopg.types.hstore import register_hstore
        from psycopg.types.json import Json, Jsonb
    except ImportError:
        raise MissingDependencyError(
            f"PostgreSQL needs psycopg 3, which is not installed: {INSTALL_HINT}"
        ) from None
    from playhouse import postgres_ext

    peewee.psycopg = psycopg
    peewee.TransactionStatus = TransactionStatus
    peewee.Json_pg3, peewee.Jsonb_pg3 = Json, Jsonb
    adapter = peewee.Psycopg3Adapter
    adapter.txn_idle = TransactionStatus.IDLE
    adapter.txn_inerror = TransactionStatus.INERROR
    adapter.txn_unknown = TransactionStatus.UNKNOWN
    postgres_ext.TypeInfo = TypeInfo
    postgres_ext.register_hstore_pg3 = register_hstore
