"""``add-dir``, ``remove-dir`` and ``dirs``: the registered results directories."""

from __future__ import annotations

import json

import typer

from ..errors import BadInputError
from ..records import RootInfo, human_size
from . import app
from .common import open_index
from .output import print_table


@app.command("add-dir")
def add_dir(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(
        None, metavar="PATH...", help="Results directories (optional with --from-covalent)."
    ),
    watch: str | None = typer.Option(
        None,
        metavar="MODE",
        help="How the daemon watches it: auto (the default: the best that works here), "
        "native (inotify), observer (watchdog's: FSEvents on macOS) or polling. Given "
        "for a folder already registered, it changes how that folder is watched.",
    ),
    from_covalent: bool = typer.Option(
        False,
        "--from-covalent",
        help="Also register every folder Covalent's own covalent.conf names (or its defaults).",
    ),
    covalent_db: str = typer.Option(
        None,
        "--covalent-db",
        metavar="PATH",
        help="The dispatcher database of a Covalent server data dir (default: found beside it).",
    ),
) -> None:
    """Register results directories or a Covalent server's data dir to index."""
    if not paths and not from_covalent:
        raise BadInputError("give the results directories to register, or --from-covalent")
    with open_index(ctx) as index:
        if from_covalent:
            found = index.add_from_covalent(watch=watch, also=paths or (), covalent_db=covalent_db)
            for note in found.notes:
                typer.echo(f"note: {note}", err=True)
            for root in found.roots:
                typer.echo(f"registered {root.path} ({root.describe()})")
            for skipped in found.skipped:
                typer.echo(f"skipped {skipped.path}: {skipped.why}")
            return
        added = index.add_dirs(paths, watch=watch, covalent_db=covalent_db)
        for path in added:
            # Results folders are said as before kinds; another kind is named.
            root = index.config.root(path)
            said = f" ({root.describe()})" if root and root.kind != "results" else ""
            typer.echo(f"registered {path}{said}")


@app.command("remove-dir")
def remove_dir(
    ctx: typer.Context,
    path: str = typer.Argument(..., metavar="PATH", help="A registered results directory."),
    forget: bool = typer.Option(False, "--forget", help="Also delete its records."),
) -> None:
    """Unregister a results directory (its records stay unless --forget)."""
    with open_index(ctx) as index:
        removed = index.remove_dir(path, forget=forget)
        typer.echo(f"unregistered {path}" + (f"; forgot {removed} record(s)" if forget else ""))


@app.command("dirs")
def dirs(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List registered results directories with their record counts."""
    with open_index(ctx) as index:
        roots = index.dirs()
        # What a running daemon chose for each root ("auto" -> a backend), and why.
        from ..daemon.status import daemon_roots

        chosen = daemon_roots(index.paths)
    if as_json:
        typer.echo(json.dumps([{**vars(r), **_backend(chosen, r.path)} for r in roots], indent=2))
        return
    if not roots:
        typer.echo("no directories registered; add one with: covalent-indexer add-dir PATH")
        return
    print_table(
        ["path", "kind", "watch", "records", "disk", "state"],
        [_row(r, chosen) for r in roots],
    )


def _row(root: RootInfo, chosen: dict[str, dict]) -> list[str]:
    watch = _watch(root.watch, chosen, root.path)
    state = "ok" if root.exists else "MISSING"
    return [root.path, root.kind, watch, str(root.records), human_size(root.bytes), state]


def _backend(chosen: dict[str, dict], path: str) -> dict[str, str | None]:
    root = chosen.get(path, {})
    return {"backend": root.get("backend"), "why": root.get("why")}


def _watch(configured: str, chosen: dict[str, dict], path: str) -> str:
    backend = chosen.get(path, {}).get("backend")
    return configured if backend in (None, configured) else f"{configured} -> {backend}"
