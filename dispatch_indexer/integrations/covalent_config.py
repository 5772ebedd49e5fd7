"""Where Covalent itself writes results, read from Covalent's own config file.

Covalent keeps ``covalent.conf`` (TOML) in ``$COVALENT_CONFIG_DIR``, else in
``$XDG_CONFIG_HOME/covalent`` (``~/.config/covalent``); the results directory
is ``results_dir`` in its ``[dispatcher]`` section. Releases differ a little
in where they look, so every place one of them uses is tried. Covalent is not imported:
importing it creates folders and rewrites that very file.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import paths as paths_mod
from ..errors import BadInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_DIR_ENV = "COVALENT_CONFIG_DIR"
CONFIG_FILE_NAME = "covalent.conf"
SECTION = "dispatcher"
KEY = "results_dir"


@dataclass(frozen=True)
class CovalentResultsDir:
    """Covalent's results directory, and how it was found."""

    path: Path
    config_file: Path
    # Set when the configured value was relative and taken from the current folder.
    note: str | None = None


def covalent_config_candidates() -> list[Path]:
    """The files Covalent may be using, most likely first."""
    configured = os.environ.get(CONFIG_DIR_ENV, "").strip()
    if configured:
        folder = Path(configured).expanduser()
        # The docs (and recent releases) put the file in $COVALENT_CONFIG_DIR;
        # Covalent 0.110 looks in a "covalent" folder inside it.
        return [folder / CONFIG_FILE_NAME, folder / "covalent" / CONFIG_FILE_NAME]
    bases = [paths_mod.xdg_config_home(), Path.home() / ".config"]
    # Covalent 0.110 reads $XDG_CONFIG_DIR (sic), not $XDG_CONFIG_HOME.
    legacy = os.environ.get("XDG_CONFIG_DIR", "").strip()
    if legacy:
        bases.insert(0, Path(legacy).expanduser())
    candidates = [base / "covalent" / CONFIG_FILE_NAME for base in bases]
    return list(dict.fromkeys(candidates))


def covalent_config_file() -> Path:
    """Covalent's config file: the first candidate that exists, else the first."""
    candidates = covalent_config_candidates()
    return next((c for c in candidates if c.is_file()), candidates[0])


def find_results_dir() -> CovalentResultsDir:
    """Covalent's results directory as an absolute path to an existing folder."""
    file = covalent_config_file()
    value = _configured_value(file)
    given = Path(value)
    note = None
    if not given.is_absolute():
        here = Path.cwd() / given
        if not here.is_dir():
            raise BadInputError(
                f"results_dir in {file} is the relative path {value!r}: Covalent resolves it "
                "against the working folder of the process that dispatches, which cannot be "
                f"known here, and there is no {value!r} in the current folder; "
                "register the folder itself with: add-dir PATH"
            )
        note = (
            f"results_dir in {file} is the relative path {value!r}, which Covalent resolves "
            "against the working folder of the process that dispatches; "
            f"using the one in the current folder: {here.resolve()}"
        )
        given = here
    if not given.exists():
        raise BadInputError(f"the results directory named in {file} does not exist (yet): {given}")
    if not given.is_dir():
        raise BadInputError(f"the results_dir named in {file} is not a folder: {given}")
    return CovalentResultsDir(path=given.resolve(), config_file=file, note=note)


def results_dir_from_covalent() -> Path:
    """Covalent's results directory (see ``find_results_dir``)."""
    return find_results_dir().path


def _configured_value(file: Path) -> str:
    if not file.is_file():
        looked = " or ".join(str(c) for c in covalent_config_candidates())
        raise BadInputError(
            f"Covalent's config file was not found (looked for {looked}); "
            f"set {CONFIG_DIR_ENV} to the folder Covalent uses, or give the results folder"
        )
    try:
        with file.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInputError(f"cannot read Covalent's config file {file}: {exc}") from None
    section = data.get(SECTION)
    value = section.get(KEY) if isinstance(section, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise BadInputError(f"no {KEY} in the [{SECTION}] section of {file}")
    return value
