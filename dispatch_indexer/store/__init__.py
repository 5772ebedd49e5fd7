"""The index database: engine, models and migrations, and the queries that write and read it.

Engine-specific code lives in ``engine`` (connections) and ``sqlite/`` (what
only an SQLite file has: Covalent's compatibility view, file health checks,
checkpoints).
"""
