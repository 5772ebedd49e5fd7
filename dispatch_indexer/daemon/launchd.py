"""The daemon as a launchd agent (macOS): the property list.

``service`` writes it into ``~/Library/LaunchAgents`` (``paths.launchd_agents_dir``);
it never calls ``launchctl``: loading it stays the user's decision, so we
only print the command (``launchctl bootstrap gui/<uid> <plist>``).
"""

from __future__ import annotations

import plistlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import paths as paths_mod

LABEL = "org.covalent-indexer.daemon"
RESTART_SECONDS = 5


def plist_file(agents_dir: Path | None = None) -> Path:
    return (agents_dir or paths_mod.launchd_agents_dir()) / f"{LABEL}.plist"


def enable_command(plist: Path, uid: int) -> str:
    return f"launchctl bootstrap gui/{uid} {plist}"


def disable_command(plist: Path, uid: int) -> str:
    # By label: the file is removed already when this is printed.
    return f"launchctl bootout gui/{uid}/{LABEL}"


def plist_bytes(
    command: Sequence[str], environment: Mapping[str, str], paths: paths_mod.Paths
) -> bytes:
    """The agent that runs ``command start --foreground`` at login and
    again when it fails (not when it stops cleanly: ``stop`` means stop)."""
    agent = {
        "Label": LABEL,
        # --quiet: the daemon logs to its own file (``paths.log_file``);
        # launchd's output file gets only what escapes it (a crash at start).
        "ProgramArguments": [*command, "start", "--foreground", "--quiet"],
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1", **environment},
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": RESTART_SECONDS,
        # Background: launchd may defer it for the user's work (laptops).
        "ProcessType": "Background",
        "StandardOutPath": str(paths.service_output_file),
        "StandardErrorPath": str(paths.service_output_file),
    }
    return plistlib.dumps(agent, sort_keys=False)
