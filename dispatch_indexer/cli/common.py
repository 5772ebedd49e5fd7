"""What every command shares: opening the index from the global options."""

from __future__ import annotations

import typer

from ..index import DispatchIndex


def open_index(ctx: typer.Context) -> DispatchIndex:
    options = ctx.find_root().obj or {}
    return DispatchIndex(options.get("db"), home=options.get("home"))
