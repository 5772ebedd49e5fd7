"""Shared fixtures: every path is redirected into ``tmp_path``.

``home`` (autouse) points COVALENT_INDEXER_HOME, HOME and the XDG folders
into the test's temporary folder, so no test can touch the real home.
``corpus`` is a private, writable copy of the real Covalent fixtures (with
their modification times); ``index`` is an open, empty index; ``indexed``
is an index of the whole corpus.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dispatch_indexer import DispatchIndex

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(
    os.environ.get("COVALENT_INDEXER_FIXTURES", REPO.parent / "shared/fixtures/covalent-0.110")
)
ROOT_NAMES = ("results", "results-alt", "snapshots")


def pytest_configure(config: pytest.Config) -> None:
    if not (FIXTURES / "manifest.json").exists():
        raise pytest.UsageError(
            f"the Covalent fixtures are not at {FIXTURES}; "
            "set COVALENT_INDEXER_FIXTURES to their folder"
        )


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    indexer_home = tmp_path / "indexer-home"
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    monkeypatch.setenv("COVALENT_INDEXER_HOME", str(indexer_home))
    monkeypatch.setenv("HOME", str(user_home))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(user_home / var.lower()))
    monkeypatch.delenv("COVALENT_INDEXER_DB", raising=False)
    return indexer_home


@pytest.fixture(scope="session")
def manifest() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "manifest.json").read_text())


def copy_fixtures(dest: Path) -> Path:
    """A writable copy of the fixtures, modification times kept."""
    shutil.copytree(FIXTURES, dest, copy_function=shutil.copy2)
    for folder, dirs, files in os.walk(dest):
        for name in dirs + files:
            path = Path(folder, name)
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    Path(dest).chmod(Path(dest).stat().st_mode | stat.S_IWUSR)
    return dest


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return copy_fixtures(tmp_path / "corpus")


@pytest.fixture
def index(home: Path) -> Iterator[DispatchIndex]:
    with DispatchIndex() as opened:
        yield opened


@pytest.fixture
def indexed(index: DispatchIndex, corpus: Path) -> DispatchIndex:
    index.add_dirs([corpus / name for name in ROOT_NAMES])
    index.scan()
    return index
