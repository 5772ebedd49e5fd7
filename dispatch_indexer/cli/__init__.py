"""The ``covalent-indexer`` command: a thin layer over ``DispatchIndex``.

Each command opens the index, calls one library function and prints. Every
error, the library's and a mistyped command line alike, becomes one line on
stderr and an exit code here, in ``IndexerGroup.main``, and nowhere else.

A command module imports only what every command needs (typer, the errors);
what one command uses (the index, the daemon, rich) it imports when it runs,
so that ``list`` or ``status`` start in a few times Python's own start.
"""

from __future__ import annotations

import gc

# Importing the CLI builds tens of thousands of objects and frees none:
# collecting while it runs only costs (a twentieth of a short command's
# start). Enabled again at the end of this module.
_COLLECTING = gc.isenabled()
gc.disable()

import copy  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from ..errors import ExitCode, IndexerError, Interrupted  # noqa: E402

PROG = "covalent-indexer"

# The order a new user meets the commands in: register folders, fill the
# index, read it, keep it current, look after it. A command not named here
# (one added later) is listed after these.
COMMAND_ORDER = (
    "add-dir",
    "scan",
    "list",
    "show",
    "start",
    "status",
    "stop",
    "serve",
    "dirs",
    "remove-dir",
    "tag",
    "untag",
    "note",
    "export",
    "import",
    "prune",
    "service",
)


def error_line(message: str) -> str:
    """The one line every failure prints."""
    return f"{PROG}: error: {message}"


def _usage_message(exc: Exception) -> str:
    """click's usage message as one line, in the project's voice: lower case,
    no closing full stop, and where to read the command's help."""
    text = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
    text = text[:1].lower() + text[1:]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        # The command's own words, whatever ran it (``python -m dispatch_indexer``).
        names = []
        while ctx.parent is not None:
            names.append(ctx.info_name)
            ctx = ctx.parent
        command = " ".join([PROG, *reversed(names)])
        text = f"{text.rstrip('.')} (see: {command} --help)"
    return text.rstrip(".")


def _name_metavars(command: Any) -> Any:
    """Give each option that takes a value and has no metavar of its own a
    word for it (``--since SINCE``, ``--results-dir DIR``) instead of typer's
    ``<str>`` or ``<int range>``."""
    for param in getattr(command, "params", ()):
        if param.metavar is None and not getattr(param, "is_flag", True) and param.opts:
            longest = max(param.opts, key=len)
            param.metavar = longest.lstrip("-").rsplit("-", 1)[-1].upper()
    return command


class IndexerGroup(TyperGroup):
    """The command group: its help, its order, and every error's one line."""

    def list_commands(self, ctx: Any) -> list[str]:
        known = [name for name in COMMAND_ORDER if name in self.commands]
        return known + [name for name in self.commands if name not in COMMAND_ORDER]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return _name_metavars(super().get_command(ctx, cmd_name))

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command with its first sentence, wrapped, never cut short."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=300)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # typer would turn it into a silent exit 130: say why instead.
            raise Interrupted("interrupted") from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; every failure one line on stderr and its exit code."""
        # typer re-exports neither; they are click's, vendored (pinned in pyproject).
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

        try:
            # Not standalone: click's errors reach us rather than its boxed panel.
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else ExitCode.OK
        except Interrupted as exc:
            typer.echo(f"{PROG}: {exc}", err=True)
            code = exc.exit_code
        except IndexerError as exc:
            typer.echo(error_line(str(exc)), err=True)
            code = exc.exit_code
        except NoArgsIsHelpError as exc:
            # A bare ``covalent-indexer`` (or ``service``): the help, as asked.
            typer.echo(exc.ctx.get_help() if exc.ctx is not None else str(exc))
            code = ExitCode.USAGE
        except UsageError as exc:
            typer.echo(error_line(_usage_message(exc)), err=True)
            code = ExitCode.USAGE
        except ClickException as exc:
            typer.echo(error_line(" ".join(exc.format_message().split())), err=True)
            code = exc.exit_code
        except typer.Abort:
            # A prompt closed by Ctrl-D or Ctrl-C.
            typer.echo(f"{PROG}: aborted", err=True)
            code = ExitCode.FAILURE
        if standalone_mode:
            sys.exit(int(code))
        return int(code)


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib import metadata

    try:
        version = metadata.version(PROG)
    except metadata.PackageNotFoundError:  # run from a source tree, not installed
        from .. import __version__ as version
    typer.echo(f"{PROG} {version}")
    raise typer.Exit()


app = typer.Typer(
    cls=IndexerGroup,
    name=PROG,
    help="Index every Covalent dispatch found in your results directories.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: no boxes, and rich is not loaded to print it.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
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
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print the version and exit.",
    ),
) -> None:
    ctx.obj = {"db": db, "home": home}


# The verbs register themselves on ``app`` when imported.
from . import daemon, export, query, roots, scan, serve, service, tags  # noqa: E402,F401

if _COLLECTING:
    gc.enable()


# The global options that take a value: what follows them is not a command.
_VALUE_OPTIONS = frozenset({"--db", "--home"})


def _command_named(argv: Sequence[str]) -> str | None:
    """The command the command line names, past the global options (None for
    a bare ``--help`` or ``--version``)."""
    args = iter(argv)
    for arg in args:
        if arg in _VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def _for_command(argv: Sequence[str]) -> typer.Typer:
    """``app`` holding only the command ``argv`` runs. typer turns every
    command's signature into click parameters before running one: for all
    eighteen, a quarter of what ``list`` takes beyond importing. A name that
    is no command keeps them all, for click's "no such command" and its
    suggestion."""
    name = _command_named(argv)
    commands = [info for info in app.registered_commands if info.name == name]
    groups = [info for info in app.registered_groups if info.name == name]
    if not commands and not groups:
        return app
    only = copy.copy(app)
    only.registered_commands = commands
    only.registered_groups = groups
    return only


def main() -> None:
    """The console script."""
    # What the imports built lives as long as the process: frozen, no
    # collection walks it again, not while the command runs nor the one the
    # interpreter makes as it exits (a tenth of a short command's time).
    # Exit handlers still run.
    gc.freeze()
    try:
        _for_command(sys.argv[1:])()
    finally:
        gc.freeze()
