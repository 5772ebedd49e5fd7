"""Retention: which records to let go of, as a policy (``[retention]`` in
config.toml, applied by the daemon once a day: ``daemon.retention``) and as
the library's ``prune``.

MINIMAL STAND-IN (issue 15, ops branch): the search branch brings the real
``prune`` (with ``--files``) and its config fields; this version keeps their
interface, ``prune(index, *, statuses, older_than, files, dry_run)`` giving a
report with ``.removed``, and deletes records only. Imports nothing heavy:
``config`` reads the policy from here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import BadInputError, ConfigError

if TYPE_CHECKING:
    from .index import DispatchIndex

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(value: Any, what: str = "older_than") -> dt.timedelta:
    """A number of days, or a text like "90d", "12h", "2w"."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return dt.timedelta(days=value)
    match = (
        re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", value) if isinstance(value, str) else None
    )
    if match is None:
        raise BadInputError(f'{what} must be a number of days or like "30d", "12h", not {value!r}')
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


@dataclass
class RetentionPolicy:
    """``[retention]``: records of these statuses older than this go."""

    older_than: Any = None
    statuses: list[str] = field(default_factory=lambda: ["COMPLETED", "CANCELLED"])
    # Also delete the dispatch folders (needs the full prune of the search branch).
    files: bool = False

    @property
    def age(self) -> dt.timedelta:
        return parse_age(self.older_than)

    def to_toml(self) -> dict[str, Any]:
        return {"older_than": self.older_than, "statuses": self.statuses, "files": self.files}


def parse_policy(table: Any) -> RetentionPolicy | None:
    if table is None or isinstance(table, RetentionPolicy):
        policy = table
    elif isinstance(table, dict):
        unknown = sorted(set(table) - {"older_than", "statuses", "files"})
        if unknown:
            raise ConfigError(f"retention: unknown setting(s) {', '.join(unknown)}")
        policy = RetentionPolicy(**table)
    else:
        raise ConfigError("'retention' must be a table ([retention])")
    if policy is None:
        return None
    if policy.older_than is None:
        raise ConfigError('retention: needs older_than, like older_than = "90d"')
    try:
        policy.age  # noqa: B018 - checked now, not at the first run
    except BadInputError as exc:
        raise ConfigError(f"retention: {exc}") from None
    if not isinstance(policy.statuses, list) or not all(
        isinstance(s, str) for s in policy.statuses
    ):
        raise ConfigError('retention: statuses must be a list, like ["COMPLETED"]')
    if not isinstance(policy.files, bool):
        raise ConfigError("retention: files must be true or false")
    return policy


@dataclass
class PruneReport:
    removed: list[str] = field(default_factory=list)
    dry_run: bool = False


def prune(
    index: DispatchIndex,
    *,
    statuses: list[str] | None = None,
    older_than: Any = None,
    files: bool = False,
    dry_run: bool = False,
) -> PruneReport:
    """Delete the records of ``statuses`` (None: any) whose dispatch ended
    (or, never ended, was last written) longer than ``older_than`` ago."""
    if files:
        raise BadInputError("deleting dispatch folders (files) is not available in this version")
    cutoff = dt.datetime.now(dt.timezone.utc) - parse_age(older_than)
    filters: dict[str, Any] = {"until": cutoff}
    if statuses:
        filters["status"] = list(statuses)
    ids = [
        r.dispatch_id
        for r in index.iterate(**filters)
        if (r.end_time or r.updated_at or cutoff) <= cutoff
    ]
    if ids and not dry_run:
        # The stand-in reaches the store as prune_missing does; the real
        # prune replaces this with the search branch's own method.
        index._guard(lambda: index._store.delete(ids))
    return PruneReport(ids, dry_run)
