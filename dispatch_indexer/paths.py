"""Every location the indexer uses, decided in one place.

Order of precedence: an explicit override (``--home``, or tests), then the
environment (``COVALENT_INDEXER_HOME`` puts everything under one folder, and
``COVALENT_INDEXER_DB`` chooses the database alone), then platformdirs.
Nothing else in the code invents a path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from platformdirs.unix import Unix

APP_NAME = "covalent-indexer"
HOME_ENV = "COVALENT_INDEXER_HOME"
DB_ENV = "COVALENT_INDEXER_DB"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    state_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def database_file(self) -> Path:
        return self.data_dir / "index.sqlite3"

    @property
    def default_db_url(self) -> str:
        return f"sqlite:///{self.database_file}"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "daemon.log"

    @property
    def service_output_file(self) -> Path:
        """Where a launchd agent's stdout and stderr go (what escapes the log)."""
        return self.log_dir / "service-output.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "daemon.pid"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "daemon.lock"

    @property
    def status_file(self) -> Path:
        return self.state_dir / "daemon-status.json"

    @property
    def last_scan_file(self) -> Path:
        """The last full scan the ``scan`` command ran (the daemon's is in its status)."""
        return self.state_dir / "last-full-scan.json"


def resolve(home: str | os.PathLike[str] | None = None) -> Paths:
    """The locations to use, from an override, the environment or platformdirs."""
    if home is None:
        home = os.environ.get(HOME_ENV) or None
    if home is not None:
        root = Path(home).expanduser().resolve()
        return Paths(
            config_dir=root / "config",
            data_dir=root / "data",
            log_dir=root / "logs",
            state_dir=root / "state",
        )
    return Paths(
        config_dir=platformdirs.user_config_path(APP_NAME),
        data_dir=platformdirs.user_data_path(APP_NAME),
        log_dir=platformdirs.user_log_path(APP_NAME),
        state_dir=platformdirs.user_state_path(APP_NAME),
    )


def xdg_config_home() -> Path:
    """``$XDG_CONFIG_HOME``, else ``~/.config``: the XDG rule whatever the platform,
    because systemd and Covalent both follow it rather than the platform's own."""
    return Unix().user_config_path


def systemd_user_unit_dir() -> Path:
    """Where systemd looks for units a user installed for themselves.

    Not moved by ``--home`` or ``COVALENT_INDEXER_HOME``: systemd only looks here.
    """
    return xdg_config_home() / "systemd" / "user"


def launchd_agents_dir() -> Path:
    """Where launchd looks for the agents a user installed (macOS).

    Not moved by ``--home`` or ``COVALENT_INDEXER_HOME``: launchd only looks here.
    """
    return Path.home() / "Library" / "LaunchAgents"


def db_url_from_env() -> str | None:
    return os.environ.get(DB_ENV) or None


def ensure_private_dir(path: Path) -> Path:
    """Create ``path``, and any of its parents that are missing, readable by
    their owner only (``mkdir -p`` would give the parents the umask's mode,
    leaving ``$COVALENT_INDEXER_HOME`` itself open to everyone)."""
    if not path.is_dir():
        if not path.parent.is_dir():
            ensure_private_dir(path.parent)
        path.mkdir(exist_ok=True, mode=0o700)
    return path


def is_within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it.

    Both are absolute and normalised, as every path the indexer keeps is, so
    comparing strings suffices (and costs no system call, which matters in
    the daemon's event loop); the separator check keeps ``/a/bc`` out of ``/a/b``.
    """
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def depth_below(path: str, root: str) -> int:
    """How many folders ``path`` lies below ``root`` (0 for the root itself)."""
    if path == root:
        return 0
    return len(os.path.relpath(path, root).split(os.sep))
