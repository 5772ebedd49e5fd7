"""What a folder holds, from a bounded look (no deep walk).

Covalent's generations leave different things, often under the same kind
of name, so the answer comes from what is inside:

- ``legacy-results``: ``<id>/result.pkl`` (Covalent up to 0.135).
- ``data-dir``: a modern server's data dir (``<id>/`` with ``.tobj``/``.pkl``
  assets or ``node_<n>/``) whose database is beside it as Covalent lays
  them out (``~/.local/share/covalent/{data,dispatcher_db.sqlite}``), or
  named by the caller; the folder holding both (the server's share folder)
  counts too, with its ``data/``.
- ``client-results``: the same layout with no database: a client's
  ``get_result`` downloads (``~/.cache/covalent/results``). Without its
  database a server's data dir can be read no better than this.
- ``dispatch-cache``: files named by dispatch id holding JSON (the client's
  ``~/.cache/covalent/dispatches``). A client's cache still empty is known
  by the names Covalent gives it (``covalent/dispatches``, ``covalent/results``).
- ``unknown``.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from .client import is_dispatch_id

__all__ = ["DATABASE_NAME", "Detection", "FolderKind", "detect", "find_database", "is_sqlite"]

DATABASE_NAME = "dispatcher_db.sqlite"
# Entries looked at in the folder, and dispatch folders looked into.
MAX_ENTRIES = 500
MAX_PEEKS = 8
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ASSET_SUFFIXES = (".tobj", ".pkl")


class FolderKind(str, enum.Enum):
    LEGACY_RESULTS = "legacy-results"
    DATA_DIR = "data-dir"
    CLIENT_RESULTS = "client-results"
    DISPATCH_CACHE = "dispatch-cache"
    UNKNOWN = "unknown"


# The names Covalent's client gives its caches (``[sdk] dispatch_cache_dir``
# and ``[sdk] results_dir``, under ``~/.cache/covalent``).
_CLIENT_CACHE_NAMES = {
    "dispatches": FolderKind.DISPATCH_CACHE,
    "results": FolderKind.CLIENT_RESULTS,
}


@dataclass(frozen=True)
class Detection:
    kind: FolderKind
    # The folder to read dispatches from (a share folder's ``data/``).
    path: Path
    database: Path | None
    # One line for the user: what was found.
    reason: str


def detect(folder: str | Path, database: str | Path | None = None) -> Detection:
    """Say what ``folder`` is; ``database`` names a server's database when it
    is not beside its data dir."""
    folder = Path(folder)
    named = Path(database) if database is not None else None
    if not folder.is_dir():
        return Detection(FolderKind.UNKNOWN, folder, None, "not a folder")
    beside = folder / DATABASE_NAME
    if is_sqlite(beside) and (folder / "data").is_dir():
        # The server's share folder: the database and its data dir inside.
        return Detection(
            FolderKind.DATA_DIR, folder / "data", named or beside, "Covalent server folder"
        )
    files = dispatch_files = dispatch_dirs = 0
    legacy = modern = 0
    for entry in _entries(folder):
        if not is_dispatch_id(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            dispatch_dirs += 1
            if legacy + modern < MAX_PEEKS:
                shape = _shape(Path(entry.path))
                legacy += shape == "legacy"
                modern += shape == "modern"
        elif entry.is_file(follow_symlinks=False):
            files += 1
            if dispatch_files < MAX_PEEKS and _starts_json(Path(entry.path)):
                dispatch_files += 1
    if legacy and legacy >= modern:
        return Detection(
            FolderKind.LEGACY_RESULTS, folder, None, f"{legacy} dispatch folder(s) with result.pkl"
        )
    if modern:
        found = named or find_database(folder)
        if found is not None:
            return Detection(FolderKind.DATA_DIR, folder, found, f"data dir, database {found}")
        return Detection(
            FolderKind.CLIENT_RESULTS,
            folder,
            None,
            "dispatch folders of assets and no database beside them",
        )
    if dispatch_files:
        return Detection(
            FolderKind.DISPATCH_CACHE, folder, None, f"{files} dispatch manifest(s) by id"
        )
    if named is not None and is_sqlite(named) and dispatch_dirs == 0:
        # An empty data dir of a server that has not run anything yet.
        return Detection(FolderKind.DATA_DIR, folder, named, "empty data dir, database named")
    if dispatch_dirs == 0 and files == 0 and folder.parent.name == "covalent":
        # A client's cache before its first dispatch, where Covalent keeps
        # it (``~/.cache/covalent/{dispatches,results}``): known by name.
        kind = _CLIENT_CACHE_NAMES.get(folder.name)
        if kind is not None:
            return Detection(kind, folder, None, f"empty, named as {kind.value} by Covalent")
    return Detection(FolderKind.UNKNOWN, folder, None, "no Covalent dispatch found at its top")


def find_database(data_dir: str | Path) -> Path | None:
    """The server database Covalent keeps beside its data dir by default
    (``[dispatcher] db_path`` is ``<share>/dispatcher_db.sqlite``, the data
    dir ``<share>/data``), or inside it; None when neither is SQLite."""
    data_dir = Path(data_dir)
    for candidate in (data_dir.parent / DATABASE_NAME, data_dir / DATABASE_NAME):
        if is_sqlite(candidate):
            return candidate
    return None


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def _shape(folder: Path) -> str | None:
    """ "legacy", "modern" or None for one dispatch folder, from its names."""
    modern = False
    for entry in _entries(folder):
        if entry.name == "result.pkl":
            return "legacy"
        if entry.name.endswith(_ASSET_SUFFIXES) or entry.name.startswith("node_"):
            modern = True
    return "modern" if modern else None


def _starts_json(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(64).lstrip()[:1] == b"{"
    except OSError:
        return False


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    out: list[os.DirEntry[str]] = []
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                out.append(entry)
                if len(out) >= MAX_ENTRIES:
                    break
    except OSError:
        return []
    return out
