"""Files to records: everything a reader process needs, and nothing more.

Nothing here imports the store, the daemon, the CLI or the HTTP app (nor
peewee, psycopg, watchdog, fastapi or typer): reader processes import this
package alone, so that each starts in about 0.1 s and 25 MB
(``tests/read/test_boundary.py`` keeps it so).
"""
