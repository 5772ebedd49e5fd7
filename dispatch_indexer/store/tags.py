"""Tags and notes: what a user says of a dispatch.

They are ours, not Covalent's, so they live in tables of their own keyed by
dispatch id (``models.Tag``, ``models.Note``), apart from the record a scan
rewrites: a rescan, a restart, a move, or a forget and re-find never touch
them, and ``export``/``import`` carry them to a rebuilt index. The text
index (``fulltext``) picks them up through its triggers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import BadInputError, NotFoundError
from .scope import Scope, chunks, utcnow

MAX_TAG = 255
MAX_NOTE = 100_000
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Labels:
    """A dispatch's tags (sorted) and note."""

    tags: tuple[str, ...] = ()
    note: str | None = None


def check_tag(tag: str) -> str:
    """A tag as stored: no spaces, not empty, at most MAX_TAG characters."""
    tag = tag.strip()
    if not tag or _SPACE.search(tag) or len(tag) > MAX_TAG:
        raise BadInputError(f"a tag is 1 to {MAX_TAG} characters without spaces, not {tag!r}")
    return tag


def _known(scope: Scope, dispatch_id: str) -> None:
    D = scope.tables.Dispatch
    if not D.select().where(D.dispatch_id == dispatch_id).exists():
        raise NotFoundError(f"no dispatch with id {dispatch_id!r} in the index")


def _given(tags: Iterable[str]) -> list[str]:
    """The tags named, each checked, without repeats."""
    given = sorted({check_tag(t) for t in tags})
    if not given:
        raise BadInputError("no tag given")
    return given


def tag(scope: Scope, dispatch_id: str, tags: Iterable[str]) -> Labels:
    """Add ``tags`` to a dispatch of the index; its labels after."""
    wanted = _given(tags)
    T = scope.tables.Tag
    with scope.database.atomic():
        _known(scope, dispatch_id)
        now = utcnow()
        rows = [{"dispatch_id": dispatch_id, "tag": t, "added_at": now} for t in wanted]
        T.insert_many(rows).on_conflict_ignore().execute()
    return labels(scope, [dispatch_id])[dispatch_id]


def untag(scope: Scope, dispatch_id: str, tags: Iterable[str]) -> Labels:
    """Remove ``tags`` from a dispatch (those it has); its labels after."""
    unwanted = _given(tags)
    T = scope.tables.Tag
    with scope.database.atomic():
        _known(scope, dispatch_id)
        T.delete().where((T.dispatch_id == dispatch_id) & T.tag.in_(unwanted)).execute()
    return labels(scope, [dispatch_id])[dispatch_id]


def note(scope: Scope, dispatch_id: str, text: str | None) -> Labels:
    """Set a dispatch's note (empty or None: remove it); its labels after."""
    text = (text or "").strip()
    if len(text) > MAX_NOTE:
        raise BadInputError(f"a note is at most {MAX_NOTE:,} characters")
    with scope.database.atomic():
        _known(scope, dispatch_id)
        _put_note(scope, dispatch_id, text)
    return labels(scope, [dispatch_id])[dispatch_id]


def _put_note(scope: Scope, dispatch_id: str, text: str) -> None:
    N = scope.tables.Note
    if not text:
        N.delete().where(N.dispatch_id == dispatch_id).execute()
        return
    N.insert(dispatch_id=dispatch_id, text=text, updated_at=utcnow()).on_conflict(
        conflict_target=[N.dispatch_id], preserve=[N.text, N.updated_at]
    ).execute()


def labels(scope: Scope, dispatch_ids: list[str]) -> dict[str, Labels]:
    """The labels of these dispatches (every one given, labelled or not)."""
    T, N = scope.tables.Tag, scope.tables.Note
    found_tags: dict[str, list[str]] = {}
    notes: dict[str, str] = {}
    for chunk in chunks(sorted(set(dispatch_ids))):
        query = T.select(T.dispatch_id, T.tag).where(T.dispatch_id.in_(chunk)).tuples()
        for dispatch_id, name in query:
            found_tags.setdefault(dispatch_id, []).append(name)
        query = N.select(N.dispatch_id, N.text).where(N.dispatch_id.in_(chunk)).tuples()
        notes.update(dict(query))
    return {i: Labels(tuple(sorted(found_tags.get(i, ()))), notes.get(i)) for i in dispatch_ids}


# (dispatch id, tags, note): what ``export`` carries of a record's labels.
LabelEntry = tuple[str, list[str], str | None]


def labels_of_records(records: Iterable[Mapping[str, object]]) -> list[LabelEntry]:
    """The labels in records as ``export`` writes them (``list_json``);
    a clear error for a record that is not one."""
    entries: list[LabelEntry] = []
    for number, record in enumerate(records, 1):
        dispatch_id, names, text = (record.get(k) for k in ("dispatch_id", "tags", "note"))
        if not isinstance(dispatch_id, str) or not dispatch_id:
            raise BadInputError(f"record {number} has no dispatch_id")
        if names is None:
            names = []
        if not isinstance(names, list) or not all(isinstance(t, str) for t in names):
            raise BadInputError(f"record {number}: tags must be a list of strings")
        if text is not None and not isinstance(text, str):
            raise BadInputError(f"record {number}: note must be a string")
        entries.append((dispatch_id, names, text))
    return entries


def restore(scope: Scope, entries: Iterable[LabelEntry]) -> int:
    """Put back (dispatch id, tags, note) as ``export`` wrote them, known
    dispatches or not (a rebuilt index finds them later); how many
    dispatches had labels. Tags are added, a note given replaces one."""
    T = scope.tables.Tag
    count = 0
    with scope.database.atomic():
        now = utcnow()
        for dispatch_id, tags, text in entries:
            wanted = sorted({check_tag(t) for t in tags})
            if wanted:
                rows = [{"dispatch_id": dispatch_id, "tag": t, "added_at": now} for t in wanted]
                T.insert_many(rows).on_conflict_ignore().execute()
            if text:
                _put_note(scope, dispatch_id, text.strip())
            count += bool(wanted or text)
    return count
