"""Records by host and status together, from the count table (``counters``):
what ``GET /metrics`` labels ``covalent_indexer_dispatches`` by. A few
rows to sum however many records there are."""

from __future__ import annotations

import peewee as pw

from .scope import Scope


def by_host_and_status(scope: Scope) -> dict[tuple[str, str], int]:
    """{(host, status): records}, hidden ones left out as listings leave them."""
    C = scope.tables.DispatchCount
    total = pw.fn.SUM(C.n)
    query = (
        C.select(C.host, C.status, total)
        .where(C.hidden == False)  # noqa: E712 - peewee builds SQL from ==
        .group_by(C.host, C.status)
        .having(total != 0)
        .tuples()
    )
    # SUM is NUMERIC on PostgreSQL.
    return {(host, status or "UNKNOWN"): int(n) for host, status, n in query}
