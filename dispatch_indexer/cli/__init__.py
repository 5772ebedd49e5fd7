"""The ``covalent-indexer`` command: a thin layer over ``DispatchIndex``.

Each command opens the index, calls one library function and prints. Errors
from the library become a one-line message and an exit code here, in
``_IndexerGroup.invoke``, and nowhere else.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from ..errors import ExitCode, IndexerError


class _IndexerGroup(TyperGroup):
    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IndexerError as exc:
            typer.echo(f"covalent-indexer: error: {exc}", err=True)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            typer.echo("covalent-indexer: interrupted", err=True)
            ctx.exit(130)


app = typer.Typer(
    cls=_IndexerGroup,
    name="covalent-indexer",
    help="Index every Covalent dispatch found in your results directories.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    db: str | None = typer.Option(
        None,
        "--db",
        metavar="URL",
        help="Index database URL (sqlite:///path or postgresql://...). "
        "Default: $COVALENT_INDEXER_DB, the config file, then a file in the data folder.",
    ),
    home: str | None = typer.Option(
        None,
        "--home",
        metavar="DIR",
        help="Keep config, index, logs and state under DIR (like $COVALENT_INDEXER_HOME).",
    ),
) -> None:
    ctx.obj = {"db": db, "home": home}


# The verbs register themselves on ``app`` when imported.
from . import daemon, export, query, roots, scan, serve, service, tags  # noqa: E402,F401


def main() -> None:
    try:
        app()
    except SystemExit as exc:
        code = exc.code
        sys.exit(code if code is not None else ExitCode.OK)
