"""Undoing migration steps 9 (search, sorts, tags and notes, folder sizes)
and 12 (the stored bytes' encoding), for the tests that rebuild an older
index and upgrade it again. Step 11 needs no undoing: it only replaced two
of step 9's triggers, which ``undo_step_9`` drops by name."""

from __future__ import annotations

from collections.abc import Callable

from dispatch_indexer.store import counters
from dispatch_indexer.store.sorting import SORTS


def undo_step_9(execute: Callable[[str], object], postgres: bool) -> None:
    """Drop what step 9 made, through ``execute`` (one SQL statement)."""
    if postgres:
        execute('DROP FUNCTION "dispatch_search_trigger"() CASCADE')
        execute('DROP FUNCTION "dispatch_search_refresh"(text)')
    else:
        for event in ("insert", "update", "delete"):
            execute(f'DROP TRIGGER "dispatch_search_{event}"')
    execute('DROP VIEW "dispatch_search_body"')
    execute('DROP TABLE "dispatch_search"')
    execute('DROP TABLE "dispatch_tag"')
    execute('DROP TABLE "dispatch_note"')
    for sort in SORTS:
        if sort != "start_time":
            execute(f'DROP INDEX "dispatch_by_{sort}"')
    # The count triggers as step 5 made them, without sizes.
    if postgres:
        execute('DROP FUNCTION "dispatch_count_delta"() CASCADE')
    else:
        for event in ("insert", "update", "delete"):
            execute(f'DROP TRIGGER "dispatch_count_{event}"')
    for statement in counters._triggers(postgres, sizes=False):
        execute(statement)
    execute('ALTER TABLE "dispatch_count" DROP COLUMN "bytes"')
    execute('ALTER TABLE "dispatch" DROP COLUMN "folder_size"')


def undo_step_12(execute: Callable[[str], object]) -> None:
    """Drop what step 12 made: the stored bytes' encoding."""
    execute('ALTER TABLE "result_blob" DROP COLUMN "encoding"')
