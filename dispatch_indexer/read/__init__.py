"""Files to records: everything a reader process needs, and nothing more.

Nothing here imports the store, the scanner, the daemon, the index, the
integrations, the CLI or the HTTP app (nor peewee, psycopg, watchdog,
fastapi, starlette, uvicorn, typer or click): reader processes import this
package alone, so that each starts in about 0.1 s and 25 MB
(``tests/read/test_boundary.py`` keeps it so).

The path of a file through it: ``pool`` hands folders to ``worker``
processes, which call ``reader.read_dispatch`` and send each outcome back as
one ``reader.compact`` tuple (its bytes ``compressed``); that loads ``result.pkl``
with ``safepickle`` (real objects only from ``constructors``), takes the
record's fields with ``covalent_result`` (the result's value as JSON through
``values``; the status from ``resultinfo`` when the pickle is unreadable)
and builds Covalent's UI document with ``document`` (``render``, ``mirror``,
``functions``; its layout and size bound in ``doclayout``). Every walk over
what a pickle held is a ``tree.TreeWalk``, bounded in depth, width and size.

Modern Covalent (0.136 on) keeps no result.pkl: ``covalent_db`` reads the
dispatcher's database read-only (rows as ``dbrows`` dataclasses; one mark
per dispatch as ``dbmarks`` rows, for telling what changed), ``modern``
joins it with the data dir (paths through ``relocate``, files through
``datafiles``, asset previews through ``tobj``) into records, and
``moderndoc`` into Covalent's UI document; ``client`` reads the client's
caches and ``detect`` says which of these a folder is.
"""
