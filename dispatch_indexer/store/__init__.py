"""The index database: engine, models and migrations, and the queries that write and read it.

``store.Store`` is the one object an index goes through; its methods are
the modules by job: ``write`` (reads written), ``forget`` (what is gone,
deleted or hidden), ``provisional`` (the listing pass's records) and
``read`` (records, pages, counts), all over one ``scope.Scope``.
``statements`` compiles the write statements once, ``counters`` keeps the
counts, ``query`` says what a listing asks for.

Engine-specific code lives in ``engine`` (connections) and ``sqlite/`` (what
only an SQLite file has: Covalent's compatibility view, file health checks,
checkpoints).
"""

from .driver import import_peewee

import_peewee()
