"""Run the daemon as a user service: a systemd user unit on Linux, a launchd
agent on macOS, a one-line error elsewhere.

The platform is chosen in one place (``manager_for``), from a name tests pass
in. ``install`` writes the file and never starts anything: the command to
run is printed, as loading a service stays the user's decision. The service
runs this very installation on the index this process uses (``--home``,
``--db`` and the environment are written into it).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .. import paths as paths_mod
from ..errors import IndexerError, NotFoundError
from ..store import engine as db_mod
from . import launchd, systemd

SCRIPT_NAME = "covalent-indexer"

# platformdirs reads these: without them the service could find another index
# than the shell that installed it, when they are set in a login script only.
_XDG_VARIABLES = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")


class UnsupportedPlatformError(IndexerError):
    """No service manager is known for this platform."""


@dataclass(frozen=True)
class ServiceFile:
    """A service file written or removed, and the command that makes it count."""

    path: Path
    command: str
    # How the command is introduced ("enable and start it with:").
    action: str


def manager_for(platform: str = sys.platform) -> str:
    """ "systemd" or "launchd" for ``platform`` (``sys.platform``'s names)."""
    if platform.startswith("linux"):
        return "systemd"
    if platform == "darwin":
        return "launchd"
    raise UnsupportedPlatformError(
        f"no user service manager known on {platform} (systemd on Linux, launchd on macOS); "
        f"run `{SCRIPT_NAME} start` instead"
    )


def service_path(platform: str = sys.platform, folder: Path | None = None) -> Path:
    """Where the service file goes on ``platform`` (in ``folder`` if given)."""
    if manager_for(platform) == "launchd":
        return launchd.plist_file(folder)
    return systemd.unit_file(folder)


def install(
    *,
    home: str | os.PathLike[str] | None = None,
    db: str | None = None,
    command: list[str] | None = None,
    platform: str = sys.platform,
    folder: Path | None = None,
) -> ServiceFile:
    """Write (or rewrite) the service file. Running it twice is harmless."""
    manager = manager_for(platform)
    command = command or exec_command()
    environment = service_environment(home=home, db=db)
    target = service_path(platform, folder)
    if manager == "launchd":
        paths = paths_mod.resolve(home)
        # launchd opens its output file but makes no folder for it.
        paths_mod.ensure_private_dir(paths.log_dir)
        data = launchd.plist_bytes(command, environment, paths)
        run = launchd.enable_command(target, os.getuid())
        action = "load and start it with:"
    else:
        data = systemd.unit_text(command, environment).encode()
        run = systemd.enable_command()
        action = "enable and start it with:"
    _write_private(target, data)
    return ServiceFile(target, run, action)


def uninstall(*, platform: str = sys.platform, folder: Path | None = None) -> ServiceFile:
    """Remove the service file. Not installed is an error."""
    manager = manager_for(platform)
    target = service_path(platform, folder)
    try:
        target.unlink()
    except FileNotFoundError:
        raise NotFoundError(f"the service is not installed: no {target}") from None
    if manager == "launchd":
        return ServiceFile(target, launchd.disable_command(target, os.getuid()), "stop it with:")
    return ServiceFile(target, systemd.disable_command(), "stop and disable it with:")


def _write_private(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".covalent-indexer-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # Owner only: a database URL in it may hold a password.
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def exec_command() -> list[str]:
    """How the service runs this very installation of covalent-indexer."""
    invoked = sys.argv[0] if sys.argv else ""
    if os.path.basename(invoked) == SCRIPT_NAME and os.path.isfile(invoked):
        return [os.path.abspath(invoked)]
    # Not resolved: a virtualenv's python is a symlink out of the virtualenv.
    beside = Path(os.path.abspath(sys.executable)).parent / SCRIPT_NAME
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    return [os.path.abspath(sys.executable), "-m", "dispatch_indexer"]


def service_environment(
    *, home: str | os.PathLike[str] | None = None, db: str | None = None
) -> dict[str, str]:
    """The variables that make the service use the index this process uses.

    A service starts in another folder with its manager's environment, so
    every location is made absolute and passed on explicitly.
    """
    env: dict[str, str] = {}
    home = home if home is not None else os.environ.get(paths_mod.HOME_ENV) or None
    if home is not None:
        env[paths_mod.HOME_ENV] = str(Path(home).expanduser().resolve())
    else:
        for name in _XDG_VARIABLES:
            value = os.environ.get(name, "").strip()
            if value:
                env[name] = str(Path(value).expanduser().resolve())
    db = db or paths_mod.db_url_from_env()
    if db is not None:
        env[paths_mod.DB_ENV] = _absolute_db_url(db)
    return env


def _absolute_db_url(url: str) -> str:
    if not db_mod.is_sqlite(url):
        return url
    return "sqlite:///" + quote(str(db_mod.sqlite_path(url)))
