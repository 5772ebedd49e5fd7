"""Configuration: a dataclass with defaults, loaded from TOML, overridable by
the environment and then the command line.

Registered roots live here rather than only in the database so that a
deleted index can be rebuilt from this file plus the disk.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import paths as paths_mod
from .errors import BadInputError, ConfigError
from .notifications import NotifyConfig
from .notifications import parse as parse_notify

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

WATCH_MODES = ("auto", "native", "observer", "polling")
# What a root holds, and so which sync keeps it current (``scan.kinds``):
# "results" is the result.pkl layout (Covalent up to 0.135), "covalent-data"
# a modern server's data dir read through its dispatcher database, and the
# Covalent client's own caches (0.2xx): "dispatch-cache" (the manifest of
# each submission) and "client-results" (what ``get_result`` downloaded).
ROOT_KINDS = ("results", "covalent-data", "dispatch-cache", "client-results")
# How each kind is said to a person (``RootConfig.describe``).
_KIND_DESCRIPTIONS = {
    "results": "results folders",
    "dispatch-cache": "dispatch-cache: a Covalent client's submitted dispatches",
    "client-results": "client-results: a Covalent client's downloaded results",
}
HOST_MAX_LENGTH = 255  # the width of every host column (store.models)
# The daemon's log levels (Python logging's names); ``serve`` has its own.
DAEMON_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def redact_url(url: str) -> str:
    """``url`` with its password replaced, fit to print or log."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


@dataclass
class RootConfig:
    path: str
    watch: str = "auto"
    kind: str = "results"
    # A covalent-data root's dispatcher database (Covalent's ``db_path``).
    covalent_db: str | None = None

    def describe(self) -> str:
        """What the root is, for a person: "results folders", or the server
        data dir with its database."""
        if self.kind == "covalent-data":
            return f"Covalent server data, database {redact_url(self.covalent_db)}"
        return _KIND_DESCRIPTIONS.get(self.kind, self.kind)


@dataclass
class RetentionConfig:
    """``[retention]``: what the daemon prunes once a day (``retention.prune``).
    Off unless ``statuses`` or ``older_than`` is set."""

    # Only dispatches of these statuses (none: any status).
    statuses: list[str] = field(default_factory=list)
    # Only those last active longer ago than this: "30d", "12h", "2w", or an
    # ISO date ("": any age).
    older_than: str = ""
    # Also delete their folders (only under registered results directories).
    files: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.statuses or self.older_than)

    def validate(self) -> None:
        if not isinstance(self.statuses, list) or not all(
            isinstance(s, str) and s.strip() for s in self.statuses
        ):
            raise ConfigError("retention.statuses must be a list of status names")
        if not isinstance(self.older_than, str):
            raise ConfigError('retention.older_than must be a string such as "30d"')
        if not isinstance(self.files, bool):
            raise ConfigError("retention.files must be true or false")
        if self.older_than:
            from .retention import cutoff_of  # its parser; it imports no config

            try:
                cutoff_of(self.older_than, dt.datetime.now(dt.timezone.utc))
            except BadInputError as exc:
                raise ConfigError(f"retention: {exc}") from None


@dataclass
class Config:
    roots: list[RootConfig] = field(default_factory=list)
    # None means the default SQLite file from paths.Paths.
    db: str | None = None
    # How deep below a root to look for dispatch folders.
    max_depth: int = 12
    follow_symlinks: bool = False
    # A result.pkl younger than this that fails to load may still be being
    # written; it is retried rather than recorded as unreadable.
    settle_seconds: float = 2.0
    # Larger result.pkl files are recorded as unreadable without being read.
    max_pickle_bytes: int = 1024 * 1024 * 1024
    # Dispatches written per database transaction during a scan.
    batch_size: int = 500
    # The daemon's full incremental rescan, the backstop for missed events.
    rescan_interval: float = 300.0
    # How often a root watched by polling is rescanned.
    poll_interval: float = 5.0
    # Events for one folder closer together than this are read once.
    coalesce_seconds: float = 0.05
    # The most inotify watches the daemon may hold; past it, roots degrade
    # to polling one at a time instead of failing.
    max_watches: int = 8192
    log_level: str = "INFO"
    # Worker processes that read result.pkl files, and the bounds on each:
    # a hostile file can cost a worker, never the daemon.
    reader_processes: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    read_memory_mb: int = 1024
    read_timeout_seconds: float = 60.0
    # ``covalent-indexer serve``: where the HTTP API and status page listen,
    # and the bearer token every request must carry (None: no token, which
    # is only allowed on a loopback address).
    http_host: str = "127.0.0.1"
    http_port: int = 48010
    http_token: str | None = None
    # The name this machine's roots and records carry in the index (None:
    # the hostname). Machines sharing one index (on PostgreSQL) need
    # distinct names: each one only scans, marks missing and forgets what
    # it found itself.
    host: str | None = None
    # ``[[notify]]`` tables: who the daemon tells when a dispatch reaches a
    # status (``notifications``, ``daemon.notify``).
    notify: list[NotifyConfig] = field(default_factory=list)
    # ``[retention]``: records the daemon lets go of once a day (``retention``).
    retention: RetentionConfig = field(default_factory=RetentionConfig)

    def validate(self) -> Config:
        if not isinstance(self.roots, list):
            raise ConfigError("'roots' must be a list of tables")
        for root in self.roots:
            if not isinstance(root.path, str) or not root.path:
                raise ConfigError("every root needs a non-empty 'path'")
            if root.watch not in WATCH_MODES:
                raise ConfigError(
                    f"root {root.path}: watch must be one of {', '.join(WATCH_MODES)}, "
                    f"not {root.watch!r}"
                )
            if root.kind not in ROOT_KINDS:
                raise ConfigError(
                    f"root {root.path}: kind must be one of {', '.join(ROOT_KINDS)}, "
                    f"not {root.kind!r}"
                )
            if root.covalent_db is not None and (
                not isinstance(root.covalent_db, str) or not root.covalent_db
            ):
                raise ConfigError(f"root {root.path}: covalent_db must be a non-empty path")
        _check_number("max_depth", self.max_depth, minimum=1, integer=True)
        _check_number("settle_seconds", self.settle_seconds, minimum=0)
        _check_number("max_pickle_bytes", self.max_pickle_bytes, minimum=1, integer=True)
        _check_number("batch_size", self.batch_size, minimum=1, integer=True)
        _check_number("rescan_interval", self.rescan_interval, minimum=1)
        _check_number("poll_interval", self.poll_interval, minimum=0.1)
        _check_number("coalesce_seconds", self.coalesce_seconds, minimum=0)
        _check_number("max_watches", self.max_watches, minimum=1, integer=True)
        _check_number("reader_processes", self.reader_processes, minimum=0, integer=True)
        _check_number("read_memory_mb", self.read_memory_mb, minimum=64, integer=True)
        _check_number("read_timeout_seconds", self.read_timeout_seconds, minimum=0.1)
        if self.log_level.upper() not in DAEMON_LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(DAEMON_LOG_LEVELS)}")
        if not isinstance(self.follow_symlinks, bool):
            raise ConfigError("follow_symlinks must be true or false")
        if self.db is not None and not isinstance(self.db, str):
            raise ConfigError("db must be a database URL string")
        if not isinstance(self.http_host, str) or not self.http_host.strip():
            raise ConfigError("http_host must be a non-empty host name or address")
        _check_number("http_port", self.http_port, minimum=1, integer=True)
        if self.http_port > 65535:
            raise ConfigError(f"http_port must be at most 65535, not {self.http_port!r}")
        if self.http_token is not None and (
            not isinstance(self.http_token, str) or not self.http_token.strip()
        ):
            raise ConfigError("http_token must be a non-empty string")
        if self.host is not None and (
            not isinstance(self.host, str)
            or not self.host.strip()
            or len(self.host) > HOST_MAX_LENGTH
        ):
            raise ConfigError(
                f"host must be a non-empty name of at most {HOST_MAX_LENGTH} characters"
            )
        self.notify = parse_notify(self.notify)
        if not isinstance(self.retention, RetentionConfig):
            raise ConfigError("retention must be a table ([retention])")
        self.retention.validate()
        return self

    @property
    def host_name(self) -> str:
        """The host this machine's rows carry: ``host``, else the hostname."""
        return self.host.strip() if self.host else default_host()

    def database_url(self, paths: paths_mod.Paths) -> str:
        """The index database: ``db`` (from the file, the environment or the
        override, as loaded), else the default SQLite file under ``paths``."""
        return self.db or paths.default_db_url

    def root_paths(self) -> list[str]:
        return [root.path for root in self.roots]

    def root(self, path: str) -> RootConfig | None:
        """The registered root at exactly ``path``, if any."""
        return next((r for r in self.roots if r.path == path), None)

    def synced_root(self, path: str) -> RootConfig | None:
        """The innermost root holding ``path`` of a kind other than
        "results": whose own sync reads it (``scan.kinds``). None for a
        folder the Scanner walks, even one inside a results root."""
        holding = [
            r for r in self.roots if r.kind != "results" and paths_mod.is_within(path, r.path)
        ]
        return max(holding, key=lambda r: len(r.path), default=None)

    def to_toml(self) -> dict[str, Any]:
        """The settings that differ from the defaults, and the roots."""
        defaults = dataclasses.asdict(Config())
        data = dataclasses.asdict(self)
        # TOML has no null: a root's unset keys are left out.
        data["roots"] = [
            {key: value for key, value in root.items() if value is not None}
            for root in data["roots"]
        ]
        data["notify"] = [n.to_toml() for n in self.notify]
        return {
            key: value
            for key, value in data.items()
            if key == "roots" or (value is not None and value != defaults[key])
        }


def _check_number(name: str, value: Any, *, minimum: float, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name} must be {kind} >= {minimum}, not {value!r}")


def _from_toml(data: dict[str, Any]) -> Config:
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in config: {', '.join(unknown)}")
    values = dict(data)
    roots = values.pop("roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, dict) for r in roots):
        raise ConfigError("'roots' must be an array of tables ([[roots]])")
    retention = values.pop("retention", {})
    if not isinstance(retention, dict):
        raise ConfigError("'retention' must be a table ([retention])")
    try:
        values["retention"] = RetentionConfig(**retention)
    except TypeError as exc:
        raise ConfigError(f"invalid [retention]: {exc}") from None
    try:
        root_list = [RootConfig(**r) for r in roots]
        config = Config(roots=root_list, **values)
    except TypeError as exc:
        raise ConfigError(f"invalid config: {exc}") from None
    return config.validate()


def load(paths: paths_mod.Paths, *, db_override: str | None = None) -> Config:
    """The configuration: file, then environment, then the ``db_override``."""
    file = paths.config_file
    config = Config()
    if file.exists():
        try:
            with file.open("rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {file}: {exc}") from None
        config = _from_toml(data)
    env_db = paths_mod.db_url_from_env()
    if env_db:
        config.db = env_db
    if db_override:
        config.db = db_override
    return config.validate()


def save(config: Config, paths: paths_mod.Paths) -> None:
    """Write the config atomically, readable by its owner only.

    The environment/command-line database override is not written back: it is
    an override for this run, not a setting.
    """
    file = paths.config_file
    paths_mod.ensure_private_dir(file.parent)
    stored = _stored_db(paths)
    data = dataclasses.replace(config, db=stored).to_toml()
    # Only the commands that change the config pay for these imports.
    import tempfile

    import tomli_w

    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(data, fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stored_db(paths: paths_mod.Paths) -> str | None:
    file = paths.config_file
    if not file.exists():
        return None
    try:
        with file.open("rb") as fh:
            value = tomllib.load(fh).get("db")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return value if isinstance(value, str) else None


def normalize_root(path: str | os.PathLike[str]) -> str:
    """The absolute form of a results directory the user named; it must exist."""
    given = Path(path).expanduser()
    if not given.exists():
        raise BadInputError(f"no such directory: {path}")
    if not given.is_dir():
        raise BadInputError(f"not a directory: {path}")
    return str(given.resolve())


def default_host() -> str:
    """This machine's name, as rows found here are marked by default."""
    import socket  # a short command never asks: not imported at start

    return socket.gethostname() or "localhost"
