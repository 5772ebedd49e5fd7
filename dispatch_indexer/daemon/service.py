"""Run the daemon as a systemd *user* service.

``install`` writes ``covalent-indexer.service`` into the user's systemd unit
folder (``paths.systemd_user_unit_dir``); it never calls ``systemctl``: what
to enable, and when, stays the user's decision, so we only print the command.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from .. import paths as paths_mod
from ..errors import ExitCode, NotFoundError
from ..store import engine as db_mod

UNIT_NAME = "covalent-indexer.service"
SCRIPT_NAME = "covalent-indexer"
RESTART_SECONDS = 5

# platformdirs reads these: without them the service could find another index
# than the shell that installed it, when they are set in a login script only.
_XDG_VARIABLES = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")


def unit_file(unit_dir: Path | None = None) -> Path:
    return (unit_dir or paths_mod.systemd_user_unit_dir()) / UNIT_NAME


def enable_command() -> str:
    return f"systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}"


def disable_command() -> str:
    # ';' rather than '&&': disabling a unit that was never loaded fails, and
    # the reload is still wanted.
    return f"systemctl --user disable --now {UNIT_NAME}; systemctl --user daemon-reload"


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

    A user service starts in another folder with systemd's environment, so
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


def unit_text(command: Sequence[str], environment: Mapping[str, str] | None = None) -> str:
    """The unit file that runs ``command start --foreground`` and restarts it on failure."""
    exec_start = " ".join(_exec_word(word) for word in [*command, "start", "--foreground"])
    env_lines = [
        f"Environment={_quoted(f'{key}={value}')}" for key, value in (environment or {}).items()
    ]
    # Restarting cannot fix bad options, a bad config file or a second daemon.
    no_restart = " ".join(
        str(int(code)) for code in (ExitCode.USAGE, ExitCode.CONFIG, ExitCode.ALREADY_RUNNING)
    )
    lines = [
        f"# Written by `{SCRIPT_NAME} service install`; "
        f"`{SCRIPT_NAME} service uninstall` removes it.",
        "[Unit]",
        "Description=covalent-indexer: keep the index of Covalent dispatches up to date",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={exec_start}",
        # Log lines reach the journal as they are written, not when a buffer fills.
        "Environment=PYTHONUNBUFFERED=1",
        *env_lines,
        "Restart=on-failure",
        f"RestartSec={RESTART_SECONDS}",
        f"RestartPreventExitStatus={no_restart}",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def install(
    *,
    home: str | os.PathLike[str] | None = None,
    db: str | None = None,
    command: Sequence[str] | None = None,
    unit_dir: Path | None = None,
) -> Path:
    """Write (or rewrite) the unit file; its path. Running it twice is harmless."""
    text = unit_text(command or exec_command(), service_environment(home=home, db=db))
    target = unit_file(unit_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".covalent-indexer-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # Owner only: a database URL in the unit may hold a password.
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def uninstall(*, unit_dir: Path | None = None) -> Path:
    """Remove the unit file; its path. Not installed is an error."""
    target = unit_file(unit_dir)
    try:
        target.unlink()
    except FileNotFoundError:
        raise NotFoundError(f"the service is not installed: no {target}") from None
    return target


def _exec_word(word: str) -> str:
    # ExecStart expands % specifiers and $VARIABLES: both are escaped so that
    # every word reaches the program as written.
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not any(c in word for c in " \t\n\"'\\;"):
        return word
    return f'"{_escape(word)}"'


def _quoted(assignment: str) -> str:
    # Environment= expands % specifiers but not $VARIABLES.
    return f'"{_escape(assignment.replace("%", "%%"))}"'


def _escape(text: str) -> str:
    """C-style escapes for a double-quoted systemd value."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
