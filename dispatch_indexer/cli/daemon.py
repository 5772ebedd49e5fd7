"""``start``, ``stop`` and ``status``: the daemon's lifecycle."""

from __future__ import annotations

import json

import typer

from .. import config as config_mod
from ..config import DAEMON_LOG_LEVELS, Config
from ..daemon import control, logsetup
from ..daemon import status as status_mod
from ..daemon.database import damaged_database, open_index_recovering
from ..errors import DatabaseError, MissingDependencyError
from ..index import DispatchIndex
from ..paths import resolve
from . import app
from .common import open_index, options


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
        help=f"One of {', '.join(DAEMON_LOG_LEVELS)} (default: config, INFO).",
    ),
    quiet: bool = typer.Option(False, "--quiet", hidden=True, help="No stderr logging."),
) -> None:
    """Start the daemon: watch every registered directory and keep the index current."""
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
    except typer.BadParameter:
        index.close()
        raise
    logsetup.configure(index.paths, level, foreground=not quiet)
    # Only the daemon watches: loading it (and inotify) here, not for every
    # command, lets the others run where inotify does not exist (macOS).
    try:
        from ..daemon.loop import Daemon
    except Exception as exc:  # noqa: BLE001 - watchdog's UnsupportedLibcError, an ImportError
        index.close()
        raise MissingDependencyError(
            f"the daemon needs Linux's inotify, which this system lacks: {exc}"
        ) from None

    daemon = Daemon(index)
    if rebuilt is not None:
        daemon.database_rebuilt(rebuilt)
    daemon.run()


def _level(given: str | None, config: Config) -> str:
    """``--log-level``, else the config's, checked."""
    level = (given or config.log_level).upper()
    if level not in DAEMON_LOG_LEVELS:
        raise typer.BadParameter(
            f"must be one of {', '.join(DAEMON_LOG_LEVELS)}", param_hint="--log-level"
        )
    return level


@app.command("stop")
def stop(ctx: typer.Context) -> None:
    """Stop the running daemon gracefully."""
    with open_index(ctx) as index:
        pid = control.stop(index.paths)
    typer.echo(f"daemon stopped (pid {pid})")


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Say whether the daemon runs, what it watches and how the index looks."""
    home, db = options(ctx)
    report = status_mod.collect(db, home)
    _print_status(status_mod.status_json(report), as_json)
    if report.error is not None:
        # The database server may be down or the file damaged: the daemon's
        # own report above still says what it meets, and this exits 4.
        raise DatabaseError(report.error)


def _print_status(report: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    if report["running"]:
        typer.echo(
            f"running (pid {report['pid']}, up {report['uptime_seconds']:.0f}s, "
            f"{report['watches']} watches)"
        )
    else:
        typer.echo("not running")
    db = report["database"]
    size = f", {db['size_bytes']:,} bytes" if "size_bytes" in db else ""
    typer.echo(f"index: {db.get('path', db['url'])}{size}")
    typer.echo(f"host: {db['host']}")
    for root in report["roots"]:
        mode = root.get("mode") or root.get("configured")
        state = "" if root.get("exists", True) else " MISSING"
        records = "?" if root["records"] is None else root["records"]
        kind = root.get("kind") or "results"
        typer.echo(f"  {root['path']}  {kind}  [{mode}]  {records} records{state}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report["records_by_status"].items()))
    typer.echo(f"records: {counts or 'none'}")
    hosts = report.get("records_by_host") or {}
    if len(hosts) > 1:
        typer.echo("by host: " + ", ".join(f"{k} {v}" for k, v in sorted(hosts.items())))
    scan = report.get("last_full_scan")
    if scan and scan.get("summary"):
        s = scan["summary"]
        typer.echo(
            f"last full scan: {scan['time']} ({scan['reason']}): {s['new']} new, "
            f"{s['updated']} updated, {s['missing']} missing"
        )
    for item in report["degraded"]:
        typer.echo(f"degraded: {item['detail']} (since {item['since']})")
    for notifier in report.get("notifiers", []):
        error = notifier.get("last_error")
        state = f"last error: {error} (at {notifier['last_error_at']})" if error else "ok"
        typer.echo(f"notify {notifier['name']}: {notifier['sent']} sent, {state}")
