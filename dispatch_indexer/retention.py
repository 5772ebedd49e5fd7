"""Retention: remove the records (and, if asked, the folders) of dispatches
nobody needs any more.

``prune`` is the one way: the ``prune`` command calls it, and so does the
daemon's daily ``[retention]`` policy (``config.RetentionConfig``). A
dispatch is chosen by status, age and whether its folder is gone, all
given criteria together. Deleting folders (``files``) is held to what this
machine found under its registered roots, and never goes through a
symbolic link: a folder that is not so is refused, and then nothing at all
is deleted. Tags and notes stay (``store.tags``): they are keyed by id,
and come back if the dispatch is found again.

This module loads no database code of its own: the index does the rest.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import BadInputError
from .paths import is_within
from .records import DispatchRecord, human_size

if TYPE_CHECKING:
    from .index import DispatchIndex

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}


@dataclass
class PruneReport:
    """What ``prune`` removed, or (``dry_run``) would remove."""

    dry_run: bool
    # The records chosen (removed, unless dry_run).
    dispatch_ids: list[str] = field(default_factory=list)
    removed: int = 0
    # Dispatch folders deleted (or to delete), and the bytes in them.
    folders: list[str] = field(default_factory=list)
    bytes: int = 0
    # Chosen records whose folder was already gone.
    gone: int = 0
    # Without ``files``, chosen records whose folders are still there: hidden
    # from every listing (a rescan would find them again if removed).
    kept_on_disk: list[str] = field(default_factory=list)
    hidden: int = 0

    def line(self) -> str:
        removed = len(self.dispatch_ids) - len(self.kept_on_disk) if self.dry_run else self.removed
        hidden = len(self.kept_on_disk) if self.dry_run else self.hidden
        parts = []
        if removed or not hidden:
            text = f"{'would remove' if self.dry_run else 'removed'} {removed} record(s)"
            if self.folders:
                text += f" and {len(self.folders)} folder(s), {human_size(self.bytes)}"
            parts.append(text)
        if hidden:
            parts.append(
                f"{'would hide' if self.dry_run else 'hid'} {hidden} record(s) whose folders "
                "are still there (--files deletes them)"
            )
        return "; ".join(parts)


def cutoff_of(
    older_than: str | dt.timedelta | dt.datetime | float | None, now: dt.datetime
) -> dt.datetime | None:
    """The moment before which a dispatch counts as old: an age ("30d", "12h",
    "90m", "2w", a number of days) back from ``now``, or an ISO date/time."""
    if older_than is None or older_than == "":
        return None
    if isinstance(older_than, dt.datetime):
        moment = older_than
    elif isinstance(older_than, dt.timedelta):
        moment = now - older_than
    elif isinstance(older_than, (int, float)) and not isinstance(older_than, bool):
        if older_than < 0:
            raise BadInputError("older-than must not be negative")
        moment = now - dt.timedelta(days=older_than)
    elif isinstance(older_than, str):
        match = _AGE.match(older_than)
        if match:
            moment = now - dt.timedelta(seconds=float(match[1]) * _UNITS[match[2].lower()])
        else:
            try:
                moment = dt.datetime.fromisoformat(older_than.strip().replace("Z", "+00:00"))
            except ValueError:
                raise BadInputError(
                    f"older-than must be an age (30d, 12h, 90m, 2w) or an ISO date, "
                    f"not {older_than!r}"
                ) from None
    else:
        raise BadInputError(f"older-than must be an age or a date, not {older_than!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def prune(
    index: DispatchIndex,
    *,
    statuses: Iterable[str] = (),
    older_than: str | dt.timedelta | dt.datetime | float | None = None,
    missing: bool = False,
    files: bool = False,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> PruneReport:
    """Remove the records of dispatches with one of ``statuses`` (any, if
    none given), last active before ``older_than`` (an age such as "30d" or
    "12h", a timedelta, or a date; any age if None) and, with ``missing``,
    whose folder is gone; with ``files`` also delete their folders. At least
    one criterion is needed. With ``dry_run`` nothing changes: the report
    says what would go."""
    now = now or dt.datetime.now(dt.timezone.utc)
    wanted = sorted({s.strip().upper() for s in statuses if s.strip()})
    cutoff = cutoff_of(older_than, now)
    if not wanted and cutoff is None and not missing:
        raise BadInputError("say what to prune: a status, an age (older-than) or missing")
    chosen = [
        r
        for r in index.iterate(
            status=wanted or None,
            until=None if missing else cutoff,
            limit=None,
            # Hidden by an earlier prune without --files: their folders may go now.
            include_hidden=files,
        )
        if (not missing or r.missing) and _old(r, cutoff, missing)
    ]
    report = PruneReport(dry_run=dry_run, dispatch_ids=[r.dispatch_id for r in chosen])
    if files:
        _choose_folders(index, chosen, report)
    else:
        # A record removed while its folder stays would be read again by the
        # next scan: hide it instead (kept out of listings, rescans keep it so).
        report.kept_on_disk = [r.dispatch_id for r in chosen if not r.missing]
    if dry_run or not chosen:
        return report
    for folder in report.folders:
        # Never through a link: rmtree refuses a link, and removes links
        # inside the folder without following them.
        shutil.rmtree(folder)
    keep = set(report.kept_on_disk)
    report.removed = index.delete([i for i in report.dispatch_ids if i not in keep])
    if keep:
        report.hidden = index.hide(report.kept_on_disk)
    return report


def _old(record: DispatchRecord, cutoff: dt.datetime | None, missing: bool) -> bool:
    if cutoff is None:
        return True
    # A missing dispatch ages from when it went missing (its last update).
    last = record.updated_at if missing else (record.end_time or record.sort_time)
    when = last or record.updated_at
    return when is not None and when <= cutoff


def _choose_folders(
    index: DispatchIndex, chosen: list[DispatchRecord], report: PruneReport
) -> None:
    """The folders of ``chosen`` to delete, each checked first: refuses (and
    so deletes nothing) if any is not a folder this host found under one of
    its registered roots, reached without a symbolic link."""
    roots = [os.path.realpath(r.path) for r in index.config.roots if r.kind == "results"]
    for record in chosen:
        folder = record.path
        if not os.path.lexists(folder):
            report.gone += 1
            continue
        refusal = _refusal(index, record, roots)
        if refusal:
            raise BadInputError(f"will not delete {folder}: {refusal}; nothing was deleted")
        report.folders.append(folder)
        report.bytes += record.folder_size or 0


def _refusal(index: DispatchIndex, record: DispatchRecord, roots: list[str]) -> str | None:
    folder = record.path
    if record.host and record.host != index.host:
        return f"it was found by host {record.host!r}, not this one"
    if record.origin == "covalent-db":
        return "a Covalent server keeps it: delete the dispatch through Covalent"
    if os.path.islink(folder) or not os.path.isdir(folder):
        return "it is a symbolic link or not a folder"
    real = os.path.realpath(folder)
    if real != os.path.normpath(folder):
        return "a symbolic link leads to it"
    if not any(is_within(real, root) and real != root for root in roots):
        return "it is not inside a registered results directory"
    return None
