"""Where Covalent itself keeps dispatches, read from Covalent's own config file.

Covalent keeps ``covalent.conf`` (TOML) in ``$COVALENT_CONFIG_DIR``, else
``$XDG_CONFIG_DIR`` (sic: not ``XDG_CONFIG_HOME``), else ``~/.config/covalent``;
releases up to 0.208 add a ``covalent`` folder below the first two. Every
release writes all of its defaults into the file on first import, so a value
in the file wins over Covalent's environment variables, which only seed a key
the file lacks (``defaults.py`` and ``config.py`` at v0.110.2 and v0.240.0).
The keys that name dispatches (docs/covalent-generations.md, section 6):

- ``[dispatcher] results_dir``: up to 0.208 the workflows' results folder
  (default ``results``, relative to the folder the dispatching Python ran
  in); from 0.209 the server's data dir (``~/.local/share/covalent/data``).
  Same key, two meanings: told apart by what the folder holds.
- ``[dispatcher] db_path`` (0.161 on): the server's SQLite database
  (``$XDG_DATA_HOME/covalent/dispatcher_db.sqlite``; ``COVALENT_DATABASE``
  seeds it). ``COVALENT_DATABASE_URL`` in the environment puts the server on
  PostgreSQL instead (0.209 on), whatever the file says.
- ``[user_interface] dispatch_db``: the 0.136-0.160 server database; up to
  0.135 the UI's table of JSON copies, which the index does not need.
- ``[sdk] dispatch_cache_dir`` and ``[sdk] results_dir`` (0.229 on): the
  client's submit manifests and ``get_result`` downloads, under ``~/.cache``.

Covalent is not imported: importing it creates folders and rewrites that file.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paths as paths_mod
from ..config import RootConfig
from ..errors import BadInputError
from ..read.detect import DATABASE_NAME, FolderKind, detect
from ..scan import kinds
from ..scan.covalent_pg import is_database_url, redact

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_DIR_ENV = "COVALENT_CONFIG_DIR"
CONFIG_FILE_NAME = "covalent.conf"
DATABASE_URL_ENV = "COVALENT_DATABASE_URL"

# What a candidate should turn out to be, for the user: a server's or the
# workflows' folder (either meaning of ``[dispatcher] results_dir``), or one
# of the client's. What it is, ``scan.kinds.root_for`` finds in it.
SERVER_OR_RESULTS = "a server's data dir or results folders"
DISPATCH_CACHE = "the client's dispatch cache"
CLIENT_RESULTS = "the client's results folder"


@dataclass(frozen=True)
class Candidate:
    """A folder Covalent's config names, and what it should hold."""

    path: Path
    expect: str
    # Which key named it, and where the value came from, for the user.
    origin: str
    # The server database to read it with: a file path or a PostgreSQL URL.
    database: str | None = None
    # Register it even with nothing in it yet (a configured results folder).
    register_empty: bool = False
    note: str | None = None


@dataclass
class Skipped:
    path: str
    why: str


@dataclass
class CovalentConfig:
    """What Covalent's config names: the file read (None when there is
    none: Covalent's defaults), candidate folders, and notes for the user."""

    file: Path | None
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class CovalentRoots:
    """``add_from_covalent``'s answer: the config file read, the roots to
    register, what was left out and why, and notes."""

    file: Path | None
    roots: list[RootConfig] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def covalent_config_candidates() -> list[Path]:
    """The files Covalent may be using, most likely first."""
    configured = os.environ.get(CONFIG_DIR_ENV, "").strip()
    if configured:
        folder = Path(configured).expanduser()
        # 0.209 on: the file in $COVALENT_CONFIG_DIR; up to 0.208 in "covalent" inside it.
        return [folder / CONFIG_FILE_NAME, folder / "covalent" / CONFIG_FILE_NAME]
    candidates = []
    legacy = os.environ.get("XDG_CONFIG_DIR", "").strip()
    if legacy:
        folder = Path(legacy).expanduser()
        candidates += [folder / CONFIG_FILE_NAME, folder / "covalent" / CONFIG_FILE_NAME]
    candidates += [_home() / ".config" / "covalent" / CONFIG_FILE_NAME]
    # No release reads $XDG_CONFIG_HOME, but a user who set it may expect so.
    candidates += [paths_mod.xdg_config_home() / "covalent" / CONFIG_FILE_NAME]
    return list(dict.fromkeys(candidates))


def covalent_config_file() -> Path | None:
    """Covalent's config file: the first candidate that exists, else None."""
    return next((c for c in covalent_config_candidates() if c.is_file()), None)


def read_covalent_config() -> CovalentConfig:
    """Every folder Covalent's config (or, without one, its defaults) names."""
    file = covalent_config_file()
    data = _load(file) if file is not None else {}
    found = CovalentConfig(file=file)
    where = f"in {file}" if file is not None else "Covalent's default"

    def value(section: str, key: str, env: str, default: Path) -> tuple[str, str, bool]:
        """The value, where it came from, and whether the file gave it."""
        table = data.get(section)
        given = table.get(key) if isinstance(table, dict) else None
        if isinstance(given, str) and given.strip():
            return given, f"[{section}] {key} {where}", True
        if os.environ.get(env, "").strip():
            return os.environ[env], f"[{section}] {key} from ${env}", False
        return str(default), f"[{section}] {key}, Covalent's default", False

    share = _xdg("XDG_DATA_HOME", ".local/share") / "covalent"
    cache = _xdg("XDG_CACHE_HOME", ".cache") / "covalent"
    # The data dir's default uses $HOME even where the database's uses XDG.
    data_dir, data_origin, from_file = value(
        "dispatcher", "results_dir", "COVALENT_DATA_DIR", _home() / ".local/share/covalent/data"
    )
    db_path, _, _ = value("dispatcher", "db_path", "COVALENT_DATABASE", share / DATABASE_NAME)
    database = _server_database(Path(db_path).expanduser(), data, found)
    path, note = _results_dir(data_dir, data_origin, found)
    if path is not None:
        found.candidates.append(
            Candidate(path, SERVER_OR_RESULTS, data_origin, database, from_file, note)
        )
    for key, env, default, expect in (
        ("dispatch_cache_dir", "COVALENT_DISPATCH_CACHE_DIR", cache / "dispatches", DISPATCH_CACHE),
        ("results_dir", "COVALENT_RESULTS_DIR", cache / "results", CLIENT_RESULTS),
    ):
        folder, origin, _ = value("sdk", key, env, default)
        found.candidates.append(Candidate(Path(folder).expanduser(), expect, origin))
    return found


def roots_from_covalent(watch: str) -> CovalentRoots:
    """The roots to register for what Covalent's config names: each
    candidate that exists, as the kind ``scan.kinds.root_for`` finds in it;
    the others skipped with a reason (a kind not supported yet is one: the
    command goes on). Raises ``BadInputError`` when none of them exists."""
    config = read_covalent_config()
    out = CovalentRoots(file=config.file, skipped=list(config.skipped))
    existing = 0
    for candidate in config.candidates:
        if not candidate.path.is_dir():
            out.skipped.append(Skipped(str(candidate.path), _absent(candidate)))
            continue
        existing += 1
        if candidate.note:
            out.notes.append(candidate.note)
        try:
            root = _root(candidate, watch)
        except BadInputError as exc:
            # root_for's message starts with the path, already said.
            why = str(exc).removeprefix(f"{candidate.path} ")
            if candidate.database and is_database_url(candidate.database):
                why = why.replace(candidate.database, redact(candidate.database))
            out.skipped.append(Skipped(str(candidate.path), why))
            continue
        if root is None:
            why = f"nothing in it yet ({candidate.origin}: {candidate.expect})"
            out.skipped.append(Skipped(str(candidate.path), why))
        elif all(r.path != root.path for r in out.roots):
            out.roots.append(root)
    if not existing:
        looked = "; ".join(f"{s.path}: {s.why}" for s in out.skipped)
        raise BadInputError(f"none of the folders Covalent's config names exists ({looked})")
    return out


def _root(candidate: Candidate, watch: str) -> RootConfig | None:
    """The root for an existing candidate folder, or None when it holds
    nothing to tell what it is and should not be registered empty."""
    database = candidate.database
    if database is not None and is_database_url(database):
        # Nothing on disk says what a PostgreSQL server's data dir is.
        return kinds.root_for(candidate.path, watch, database)
    found = detect(candidate.path, database)
    if found.kind is FolderKind.UNKNOWN and not candidate.register_empty:
        return None
    if found.kind is not FolderKind.DATA_DIR:
        # A results folder or a client's: the database is not its to read.
        database = None
    return kinds.root_for(candidate.path, watch, database)


def _absent(candidate: Candidate) -> str:
    if candidate.path.exists():
        return f"not a folder ({candidate.origin})"
    return f"does not exist ({candidate.origin})"


def _results_dir(value: str, origin: str, found: CovalentConfig) -> tuple[Path | None, str | None]:
    """``[dispatcher] results_dir`` as a folder. Up to 0.208 its default is
    the relative ``results``, which Covalent resolves against the folder the
    dispatching Python ran in: only the current folder can be tried here."""
    given = Path(value).expanduser()
    if given.is_absolute():
        return given, None
    here = Path.cwd() / given
    if not here.is_dir():
        found.skipped.append(
            Skipped(
                value,
                f"{origin} is a relative path, which Covalent resolves against the folder "
                "the dispatching Python ran in, and there is none here; register the "
                "folder itself with: add-dir PATH",
            )
        )
        return None, None
    note = (
        f"{origin} is the relative path {value!r}, which Covalent resolves against the "
        f"working folder of the process that dispatches; using the one here: {here.resolve()}"
    )
    return here.resolve(), note


def _server_database(db_path: Path, data: dict[str, Any], found: CovalentConfig) -> str | None:
    """The server database to read the data dir with: ``COVALENT_DATABASE_URL``
    when set (the server ignores ``db_path`` then), else the SQLite file of
    ``db_path``, else a 0.136-0.160 database at ``[user_interface] dispatch_db``."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    if db_path.is_file():
        return str(db_path)
    table = data.get("user_interface")
    old = table.get("dispatch_db") if isinstance(table, dict) else None
    if isinstance(old, str) and old.strip():
        path = Path(old).expanduser()
        if _has_table(path, "lattices"):
            return str(path)
        if path.is_file():
            found.skipped.append(
                Skipped(
                    str(path),
                    "[user_interface] dispatch_db: Covalent's UI copies of results "
                    "(up to 0.135), not read: the results folders hold the same",
                )
            )
    return None


def _has_table(path: Path, table: str) -> bool:
    if not path.is_file():
        return False
    try:
        conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True, timeout=0.5)
        try:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None


def _load(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInputError(f"cannot read Covalent's config file {file}: {exc}") from None


def _home() -> Path:
    # Covalent builds its paths from $HOME itself.
    home = os.environ.get("HOME", "").strip()
    return Path(home) if home else Path.home()


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "").strip()
    return Path(value) if value else _home() / fallback
