"""The ``[[notify]]`` tables of config.toml: who is told when a dispatch
reaches a status, and how (a command, a URL or both). The daemon sends them
(``daemon.notify``); this module only reads and checks the settings, and
imports nothing heavy, like ``config``.

    [[notify]]
    statuses = ["FAILED"]
    lattice = "train"            # optional: only this workflow
    command = ["notify-send", "covalent"]
    url = "http://127.0.0.1:9000/hook"
    on_history = false           # true: also what the first scan finds
    timeout = 30                 # seconds, for the command and each POST
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

_KEYS = ("name", "statuses", "lattice", "command", "url", "on_history", "timeout")


@dataclass
class NotifyConfig:
    statuses: list[str] = field(default_factory=list)
    lattice: str | None = None
    # argv, run without a shell; the record comes as JSON on stdin.
    command: list[str] | None = None
    # Gets the record as a JSON POST, retried with backoff.
    url: str | None = None
    # Also what the daemon's first scan finds (dispatches that finished
    # while no daemon ran); by default only what happens while it runs.
    on_history: bool = False
    timeout: float = 30.0
    # Names the notifier in ``status`` and in what was sent; by default a
    # digest of what it does, so an edited notifier starts afresh.
    name: str | None = None

    @property
    def key(self) -> str:
        if self.name:
            return self.name
        what = json.dumps([self.statuses, self.lattice, self.command, self.url], sort_keys=True)
        import hashlib  # loads OpenSSL: only where a notifier is named

        return "notify-" + hashlib.sha256(what.encode()).hexdigest()[:12]

    def describe(self) -> str:
        how = " and ".join(
            part
            for part in (
                f"run {self.command[0]}" if self.command else "",
                f"POST {self.url}" if self.url else "",
            )
            if part
        )
        only = f" of {self.lattice}" if self.lattice else ""
        return f"{'/'.join(self.statuses)}{only}: {how}"

    def matches(self, status: str | None, lattice_name: str | None) -> bool:
        return status in self.statuses and (self.lattice is None or lattice_name == self.lattice)

    def to_toml(self) -> dict[str, Any]:
        defaults = asdict(NotifyConfig())
        return {
            k: v
            for k, v in asdict(self).items()
            if v is not None and (k == "statuses" or v != defaults[k])
        }


def parse(tables: Any) -> list[NotifyConfig]:
    """The ``notify`` setting (tables from TOML, or ``NotifyConfig``s), checked."""
    if not isinstance(tables, list):
        raise ConfigError("'notify' must be an array of tables ([[notify]])")
    parsed = [
        table if isinstance(table, NotifyConfig) else _one(i, table)
        for i, table in enumerate(tables, 1)
    ]
    for number, notifier in enumerate(parsed, 1):
        _check(number, notifier)
    keys = [n.key for n in parsed]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"notify: two notifiers named {twice[0]!r}; give each a distinct 'name'")
    return parsed


def _one(number: int, table: Any) -> NotifyConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"notify #{number}: must be a table ([[notify]])")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(f"notify #{number}: unknown setting(s) {', '.join(unknown)}")
    return NotifyConfig(**table)


def _check(number: int, n: NotifyConfig) -> None:
    where = f"notify #{number}"
    if (
        not isinstance(n.statuses, list)
        or not n.statuses
        or not all(isinstance(s, str) and s.strip() for s in n.statuses)
    ):
        raise ConfigError(f'{where}: statuses must be a non-empty list, like ["FAILED"]')
    n.statuses = [s.strip().upper() for s in n.statuses]
    if n.command is None and n.url is None:
        raise ConfigError(f"{where}: needs a command, a url or both")
    if n.command is not None and (
        not isinstance(n.command, list)
        or not n.command
        or not all(isinstance(a, str) for a in n.command)
        or not n.command[0]
    ):
        raise ConfigError(f'{where}: command must be a list of strings, like ["notify-send", "x"]')
    if n.url is not None:
        parts = urlsplit(n.url) if isinstance(n.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{where}: url must be an http:// or https:// URL, not {n.url!r}")
    if n.lattice is not None and (not isinstance(n.lattice, str) or not n.lattice):
        raise ConfigError(f"{where}: lattice must be a workflow name")
    if not isinstance(n.on_history, bool):
        raise ConfigError(f"{where}: on_history must be true or false")
    if isinstance(n.timeout, bool) or not isinstance(n.timeout, (int, float)) or n.timeout <= 0:
        raise ConfigError(f"{where}: timeout must be a number of seconds > 0, not {n.timeout!r}")
    if n.name is not None and (
        not isinstance(n.name, str) or not n.name.strip() or len(n.name) > 64
    ):
        raise ConfigError(f"{where}: name must be a non-empty string of at most 64 characters")
