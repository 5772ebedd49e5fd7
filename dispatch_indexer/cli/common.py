"""What every command shares: opening the index from the global options."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ..index import DispatchIndex


def options(ctx: typer.Context) -> tuple[str | None, str | None]:
    """The global ``--home`` and ``--db`` values."""
    given = ctx.find_root().obj or {}
    return given.get("home"), given.get("db")


def open_index(ctx: typer.Context) -> DispatchIndex:
    # Imported here: ``--help`` and a mistyped command never load the database layer.
    from ..index import DispatchIndex

    home, db = options(ctx)
    return DispatchIndex(db, home=home)
