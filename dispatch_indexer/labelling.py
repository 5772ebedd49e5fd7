"""The verbs that label dispatches: hide, tags and notes (``store.tags``).

A part of ``DispatchIndex`` (its base class): what a person adds to the
records, which scans never overwrite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .store.store import Store
    from .store.tags import Labels

T = TypeVar("T")


class Labelling:
    """``DispatchIndex``'s verbs on what people add to records."""

    if TYPE_CHECKING:  # what DispatchIndex provides
        _store: Store

        def _guard(self, action: Callable[[], T]) -> T: ...

    def hide(self, dispatch_ids: Iterable[str]) -> int:
        """Hide dispatches from listings and Covalent's UI, as its "delete"
        does; no record, stored bytes or file is deleted. How many were shown."""
        ids = list(dispatch_ids)
        return self._guard(lambda: self._store.hide(ids))

    def tag(self, dispatch_id: str, tags: Iterable[str]) -> Labels:
        """Tag a dispatch of the index; its tags and note after."""
        return self._guard(lambda: self._store.tag(dispatch_id, list(tags)))

    def untag(self, dispatch_id: str, tags: Iterable[str]) -> Labels:
        """Remove tags from a dispatch; its tags and note after."""
        return self._guard(lambda: self._store.untag(dispatch_id, list(tags)))

    def note(self, dispatch_id: str, text: str | None) -> Labels:
        """Set a dispatch's note ("" removes it); its tags and note after."""
        return self._guard(lambda: self._store.note(dispatch_id, text))

    def import_labels(self, records: Iterable[dict[str, object]]) -> int:
        """Put back the tags and notes of ``export``'s records (dicts), for
        dispatches indexed or yet to be found; how many had any."""
        from .store.tags import labels_of_records

        entries = labels_of_records(records)
        return self._guard(lambda: self._store.restore_labels(entries))
