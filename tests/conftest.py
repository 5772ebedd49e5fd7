"""Shared fixtures: every path is redirected into ``tmp_path``.

``home`` (autouse) points COVALENT_INDEXER_HOME, HOME and the XDG folders
into the test's temporary folder, so no test can touch the real home.
It also chooses the index database: the SQLite file under that home, or,
for a test marked ``engines`` (run once per engine) or with
``$COVALENT_INDEXER_TEST_ENGINE=postgresql`` (every test not marked
``sqlite_only``), a fresh database on a PostgreSQL server the suite starts
itself (``postgres_server``; skipped, saying how to get one, without the
server binaries).
``corpus`` is a private, writable copy of the real Covalent fixtures (with
their modification times); ``index`` is an open, empty index; ``indexed``
is an index of the whole corpus.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from dispatch_indexer import DispatchIndex
from dispatch_indexer.cli import app

from .postgres_server import HOW_TO_GET, PostgresServer, find_bindir
from .realdata import FIXTURES, ROOT_NAMES, SERVER_DB_240

ENGINES = ("sqlite", "postgresql")
ENGINE_ENV = "COVALENT_INDEXER_TEST_ENGINE"


def pytest_configure(config: pytest.Config) -> None:
    if not (FIXTURES / "manifest.json").exists():
        raise pytest.UsageError(
            f"the Covalent fixtures are not at {FIXTURES}; "
            "set COVALENT_INDEXER_FIXTURES to their folder"
        )
    if os.environ.get(ENGINE_ENV, "sqlite") not in ENGINES:
        raise pytest.UsageError(f"${ENGINE_ENV} must be one of {', '.join(ENGINES)}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    definition = metafunc.definition
    marked = (
        definition.get_closest_marker("engines") is not None
        and definition.get_closest_marker("sqlite_only") is None
    )
    if marked and "db_engine" in metafunc.fixturenames:
        metafunc.parametrize("db_engine", ENGINES, indirect=True)


@pytest.fixture
def db_engine(request: pytest.FixtureRequest) -> str:
    """The engine of this test's index (see the module doc)."""
    if request.node.get_closest_marker("sqlite_only") is not None:
        return "sqlite"
    return getattr(request, "param", None) or os.environ.get(ENGINE_ENV, "sqlite")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, on loopback."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(HOW_TO_GET)
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    if postgres_server.running():
        postgres_server.drop_database(name)


@pytest.fixture(autouse=True)
def home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_engine: str, request: pytest.FixtureRequest
) -> Path:
    indexer_home = tmp_path / "indexer-home"
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    monkeypatch.setenv("COVALENT_INDEXER_HOME", str(indexer_home))
    monkeypatch.setenv("HOME", str(user_home))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(user_home / var.lower()))
    if db_engine == "postgresql":
        monkeypatch.setenv("COVALENT_INDEXER_DB", request.getfixturevalue("postgres_url"))
    else:
        monkeypatch.delenv("COVALENT_INDEXER_DB", raising=False)
    return indexer_home


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run a command in-process; assert its exit code (0 unless ``code``)."""
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return invoke


@pytest.fixture(scope="session")
def manifest() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "manifest.json").read_text())


def copy_fixtures(dest: Path, source: Path = FIXTURES) -> Path:
    """A writable copy of the fixtures, modification times kept."""
    shutil.copytree(source, dest, copy_function=shutil.copy2)
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
def covalent_server(tmp_path: Path) -> Path:
    """A writable copy of Covalent 0.240's server folder: ``data/`` and
    ``dispatcher_db.sqlite`` beside it, as Covalent lays them out."""
    return copy_fixtures(tmp_path / "share", SERVER_DB_240.parent)


@pytest.fixture
def index(home: Path) -> Iterator[DispatchIndex]:
    with DispatchIndex() as opened:
        yield opened


@pytest.fixture
def indexed(index: DispatchIndex, corpus: Path) -> DispatchIndex:
    index.add_dirs([corpus / name for name in ROOT_NAMES])
    index.scan()
    return index


@pytest.fixture
def results(tmp_path: Path, home: Path) -> Path:
    """An empty results directory, registered as a root."""
    folder = tmp_path / "results"
    folder.mkdir()
    with DispatchIndex() as index:
        index.add_dirs([folder])
    return folder


@pytest.fixture
def writer():
    """Saves dispatches the way Covalent does (see daemon_helpers)."""
    from .daemon_helpers import CovalentWriter

    return CovalentWriter()
