"""The daemon as a systemd *user* service (Linux): the unit file.

``service`` writes it into the user's systemd unit folder
(``paths.systemd_user_unit_dir``); it never calls ``systemctl``: what to
enable, and when, stays the user's decision, so we only print the command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import paths as paths_mod
from ..errors import ExitCode

UNIT_NAME = "covalent-indexer.service"
SCRIPT_NAME = "covalent-indexer"
RESTART_SECONDS = 5


def unit_file(unit_dir: Path | None = None) -> Path:
    return (unit_dir or paths_mod.systemd_user_unit_dir()) / UNIT_NAME


def enable_command() -> str:
    return f"systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}"


def disable_command() -> str:
    # ';' rather than '&&': disabling a unit that was never loaded fails, and
    # the reload is still wanted.
    return f"systemctl --user disable --now {UNIT_NAME}; systemctl --user daemon-reload"


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
