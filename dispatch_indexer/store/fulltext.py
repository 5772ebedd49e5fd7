"""Full-text search: what ``text=`` asks for, and the index that answers it.

A search is words and quoted phrases, all of which must match: each word
matches a word that starts with it (``overfl`` finds "OverflowError"), a
phrase its words in order (``"division by zero"``). Words are runs of
letters and digits, on both engines alike, so an id, a path or a file name
is searched by its parts (``0f3e`` finds the dispatch ``0f3e81c4-...``).

It looks through each dispatch's id, workflow name, location, error, the
names and errors of its failing tasks, its tags and its note, kept in a
text index by triggers: SQLite's FTS5 (``sqlite.fulltext``), or on
PostgreSQL a ``tsvector`` column under a GIN index (here). **This module
holds the PostgreSQL half of the engine-specific code**, like ``engine``.
"""

# Every SQL text here is built from this module's constants; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import re
from dataclasses import dataclass

import peewee as pw

from ..errors import BadInputError
from . import engine
from .sqlite import fulltext as sqlite_fulltext

TABLE = "dispatch_search"
VIEW = "dispatch_search_body"

_TERM = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Term:
    """Words that must appear in this order; the last may be a prefix."""

    words: tuple[str, ...]
    prefix: bool


def parse(text: str) -> list[Term]:
    """The terms of a search; a clear error if it has no word at all."""
    terms = []
    for match in _TERM.finditer(text):
        phrase, word = match.group(1), match.group(2)
        words = tuple(w.lower() for w in _WORD.findall(phrase if phrase is not None else word))
        if words:
            terms.append(Term(words, prefix=phrase is None))
    if not terms:
        raise BadInputError(f"text has no word to search for: {text[:60]!r}")
    return terms


def fts5_query(terms: list[Term]) -> str:
    # Words are letters and digits only: nothing in them needs quoting.
    return " AND ".join(f'"{" ".join(t.words)}"' + ("*" if t.prefix else "") for t in terms)


def tsquery(terms: list[Term]) -> str:
    return " & ".join("(" + " <-> ".join(t.words) + (":*" if t.prefix else "") + ")" for t in terms)


def condition(database: pw.Database, model: type[pw.Model], text: str) -> pw.Node:
    """The listed dispatch (of ``model``, the dispatch table) matches ``text``."""
    terms = parse(text)
    if not engine.is_postgres(database):
        rowid = pw.Column(model._meta.table, "rowid")
        return sqlite_fulltext.condition(database, rowid, fts5_query(terms))
    ids = pw.SQL(
        f"(SELECT dispatch_id FROM {TABLE} WHERE body @@ to_tsquery('simple', %s))",
        [tsquery(terms)],
    )
    return model.dispatch_id.in_(ids)


def install(database: pw.Database) -> None:
    """Create the text index and what keeps it current; index every dispatch."""
    if not engine.is_postgres(database):
        sqlite_fulltext.install(database)
        return
    for statement in _PG_DDL:
        database.execute_sql(statement)
    database.execute_sql(
        f"INSERT INTO {TABLE} (dispatch_id, body) SELECT dispatch_id, {_PG_VECTOR} FROM {VIEW}"
    )


# ---- PostgreSQL ---------------------------------------------------------------

# As on SQLite (``sqlite.fulltext._BODY``).
_PG_BODY = """
    d.dispatch_id || ' ' || COALESCE(d.lattice_name, '') || ' ' || d.path || ' '
    || COALESCE(d.error, '') || ' '
    || COALESCE((SELECT string_agg(COALESCE(n->>'name', '') || ' '
                                   || COALESCE(n->>'error', ''), ' ')
                 FROM json_array_elements(CASE WHEN json_typeof(d.nodes::json) = 'array'
                                               THEN d.nodes::json END) AS n
                 WHERE n->>'status' = 'FAILED' OR n->>'error' IS NOT NULL), '') || ' '
    || COALESCE((SELECT string_agg(t.tag, ' ') FROM dispatch_tag AS t
                 WHERE t.dispatch_id = d.dispatch_id), '') || ' '
    || COALESCE((SELECT o.text FROM dispatch_note AS o WHERE o.dispatch_id = d.dispatch_id), '')
"""
# Words as on SQLite (letters and digits; everything else separates them),
# cut short of tsvector's limit of 1 MB.
_PG_VECTOR = "to_tsvector('simple', regexp_replace(left(body, 200000), '[^[:alnum:]]+', ' ', 'g'))"
_SEARCHED = ("dispatch_id", "lattice_name", "path", "error", "nodes")

_PG_DDL = (
    f'CREATE TABLE {TABLE} (dispatch_id VARCHAR(255) COLLATE "C" PRIMARY KEY, body tsvector)',
    f"CREATE INDEX {TABLE}_words ON {TABLE} USING gin (body)",
    f"CREATE VIEW {VIEW} AS SELECT d.dispatch_id AS dispatch_id, {_PG_BODY} AS body "
    "FROM dispatch AS d",
    f"""CREATE FUNCTION {TABLE}_refresh(key text) RETURNS void LANGUAGE sql AS $$
        DELETE FROM {TABLE} WHERE dispatch_id = key
            AND NOT EXISTS (SELECT 1 FROM dispatch WHERE dispatch_id = key);
        INSERT INTO {TABLE} (dispatch_id, body)
            SELECT dispatch_id, {_PG_VECTOR} FROM {VIEW} WHERE dispatch_id = key
        ON CONFLICT (dispatch_id) DO UPDATE SET body = EXCLUDED.body;
    $$""",
    f"""CREATE FUNCTION {TABLE}_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM {TABLE}_refresh(OLD.dispatch_id);
        ELSE
            PERFORM {TABLE}_refresh(NEW.dispatch_id);
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.dispatch_id IS DISTINCT FROM NEW.dispatch_id THEN
            PERFORM {TABLE}_refresh(OLD.dispatch_id);
        END IF;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER {TABLE}_insert AFTER INSERT OR DELETE ON dispatch
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_trigger()""",
    f"""CREATE TRIGGER {TABLE}_update AFTER UPDATE ON dispatch FOR EACH ROW
        WHEN ({" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _SEARCHED)})
        EXECUTE FUNCTION {TABLE}_trigger()""",
    *(
        f"""CREATE TRIGGER {TABLE}_{table} AFTER INSERT OR UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {TABLE}_trigger()"""
        for table in ("dispatch_tag", "dispatch_note")
    ),
)
