"""``start``, ``stop`` and ``status``: the daemon's lifecycle."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import typer

from ..errors import BadInputError, DatabaseError, MissingDependencyError
from . import app
from .common import open_index, options

if TYPE_CHECKING:
    from ..config import Config

# What each command needs is imported when it runs: ``status`` should not pay
# for the daemon's machinery, nor any command for another's.


@app.command("start")
def start(
    ctx: typer.Context,
    foreground: bool = typer.Option(
        False,
        "--foreground",
        help="Stay attached (for services and debugging); logs to stderr too.",
    ),
    log_level: str = typer.Option(
        None,
        "--log-level",
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default: the config's, INFO). "
        "DEBUG logs each watch event, read and write with its time.",
    ),
    quiet: bool = typer.Option(False, "--quiet", hidden=True, help="No stderr logging."),
) -> None:
    """Start the daemon, which keeps the index current.

    It watches every registered directory and scans them all now and then;
    in the background unless --foreground.
    """
    from .. import config as config_mod
    from ..daemon import control, logsetup
    from ..daemon.database import damaged_database, open_index_recovering
    from ..index import DispatchIndex
    from ..paths import resolve

    home, db = options(ctx)
    if not foreground:
        paths = resolve(home)
        try:
            with DispatchIndex(db, home=home) as index:
                config = index.config
        except DatabaseError:
            if damaged_database(db, home) is None:
                raise
            # The daemon itself sets it aside, and says so in status.
            config = config_mod.load(paths, db_override=db)
        level = _level(log_level, config)
        pid = control.start_background(paths, home=home, db=db, log_level=level)
        typer.echo(f"daemon started (pid {pid}); logs in {paths.log_file}")
        return
    # A damaged index file is moved aside and rebuilt, not a reason to stop.
    index, rebuilt = open_index_recovering(db, home)
    try:
        level = _level(log_level, index.config)
    except BadInputError:
        index.close()
        raise
    logsetup.configure(index.paths, level, foreground=not quiet)
    # Only the daemon watches: loading it here, not for every command, keeps
    # the others free of watchdog (inotify itself loads only when a root is
    # watched natively, ``daemon.watch``).
    try:
        from ..daemon.loop import Daemon
    except Exception as exc:  # noqa: BLE001 - watchdog's UnsupportedLibcError, an ImportError
        index.close()
        raise MissingDependencyError(f"the daemon cannot load here: {exc}") from None

    daemon = Daemon(index)
    if rebuilt is not None:
        daemon.database_rebuilt(rebuilt)
    daemon.run()


def _level(given: str | None, config: Config) -> str:
    """``--log-level``, else the config's, checked."""
    from ..config import DAEMON_LOG_LEVELS

    level = (given or config.log_level).upper()
    if level not in DAEMON_LOG_LEVELS:
        raise BadInputError(
            f"--log-level must be one of {', '.join(DAEMON_LOG_LEVELS)}, not {level!r}"
        )
    return level


@app.command("stop")
def stop(ctx: typer.Context) -> None:
    """Stop the running daemon gracefully."""
    from ..daemon import control

    with open_index(ctx) as index:
        pid = control.stop(index.paths)
    typer.echo(f"daemon stopped (pid {pid})")


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Say whether the daemon runs, what it watches and how the index looks."""
    from ..daemon import status as status_mod

    home, db = options(ctx)
    report = status_mod.collect(db, home)
    _print_status(status_mod.status_json(report), as_json)
    if report.error is not None:
        # The database server may be down or the file damaged: the daemon's
        # own report above still says what it meets, and this exits 4.
        raise DatabaseError(report.error)


def _print_status(report: dict[str, Any], as_json: bool) -> None:
    """The report in the README's order: the daemon, its roots, the last
    full scan, the database, the dispatches by status, what is degraded."""
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    if report["running"]:
        watches = plural(report["watches"] or 0, "watch", "watches")
        typer.echo(
            f"daemon: running (pid {report['pid']}, up {_age(report['uptime_seconds'])}, {watches})"
        )
    else:
        typer.echo("daemon: not running")
    roots = report["roots"]
    typer.echo(f"roots ({len(roots)}):" if roots else "roots: none (add one: add-dir PATH)")
    for root in roots:
        mode = root.get("mode") or root.get("configured")
        state = "  MISSING" if not root.get("exists", True) else ""
        count = "?" if root["records"] is None else plural(root["records"], "dispatch")
        kind = root.get("kind") or "results"
        typer.echo(f"  {root['path']}  {kind}  [{mode}]  {count}{state}")
        # Which backend and why, and what it cannot promise (``daemon.watch``).
        for note in [root.get("why"), *(root.get("caveats") or [])]:
            if note and note != "configured":
                typer.echo(f"      {note}")
    typer.echo(f"last full scan: {_scan_line(report.get('last_full_scan'))}")
    db = report["database"]
    size = f" ({_size(db['size_bytes'])})" if "size_bytes" in db else ""
    typer.echo(f"database: {db.get('path', db['url'])}{size}, host {db['host']}")
    by_status = report["records_by_status"]
    counts = ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
    total = plural(sum(by_status.values()), "dispatch")
    typer.echo(f"index: {total}" + (f" ({counts})" if counts else ""))
    hosts = report.get("records_by_host") or {}
    if len(hosts) > 1:
        typer.echo("by host: " + ", ".join(f"{k} {v}" for k, v in sorted(hosts.items())))
    for item in report["degraded"]:
        typer.echo(f"degraded: {item['detail']} (since {item['since']})")
    for notifier in report.get("notifiers", []):
        error = notifier.get("last_error")
        state = f"last error: {error} (at {notifier['last_error_at']})" if error else "ok"
        typer.echo(f"notify {notifier['name']}: {notifier['sent']} sent, {state}")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 dispatch``, ``2 dispatches``."""
    return f"{n:,} {word if n == 1 else many or word + 'es'}"


def _scan_line(scan: dict[str, Any] | None) -> str:
    if not scan:
        return "none yet (the daemon runs one when it starts; or run: covalent-indexer scan)"
    when = _when(scan["time"], scan["reason"])
    summary = scan.get("summary")
    if not summary:
        return f"{when}: no directories registered"
    return (
        f"{when}: {summary['new']} new, {summary['updated']} updated, "
        f"{summary['missing']} missing, {summary['unreadable']} unreadable"
    )


def _when(iso: str, why: str) -> str:
    """An ISO time in UTC, as every time the CLI prints, how long ago, and why."""
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return f"{iso} ({why})"
    ago = (dt.datetime.now(dt.timezone.utc) - moment).total_seconds()
    utc = moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{utc} ({_age(ago)} ago, {why})"


def _age(seconds: float | None) -> str:
    seconds = max(0, round(seconds or 0))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _size(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
