"""The docs stay honest: every command has help text and is in the README."""

from __future__ import annotations

import re

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from dispatch_indexer.cli import app

from .realdata import REPO

COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_there_are_commands() -> None:
    assert {"add-dir", "remove-dir", "dirs", "scan", "list", "show"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    help_text = get_command(app).commands[command].help  # type: ignore[attr-defined]
    assert help_text and help_text.strip()


@pytest.mark.parametrize("command", COMMANDS)
def test_command_is_in_readme(command: str) -> None:
    assert f"`{command}" in (REPO / "README.md").read_text()


def test_readme_quick_start_commands_exist() -> None:
    readme = (REPO / "README.md").read_text()
    for script in ("scripts/run", "scripts/test"):
        assert script in readme
        assert (REPO / script).exists()
    assert (REPO / ".ci" / "run").read_text().strip().endswith('scripts/test"')


def test_every_promise_names_a_test_that_exists() -> None:
    """Each test the README's "What the indexer promises" names is there."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## What the indexer promises", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`((?:\w+/)*test_\w+\.py)::(test_\w+)`", section)
    assert len(named) > 40
    missing = [
        f"{file}::{name}"
        for file, name in named
        if not re.search(rf"^(async )?def {name}\(", (REPO / "tests" / file).read_text(), re.M)
    ]
    assert missing == []


def test_readme_is_at_most_350_lines() -> None:
    """The README is for users; the measurement log lives in docs/performance.md."""
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 350


def test_every_file_the_readme_links_exists() -> None:
    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert "docs/performance.md" in local
    missing = [t for t in local if not (REPO / t).exists()]
    assert missing == []
