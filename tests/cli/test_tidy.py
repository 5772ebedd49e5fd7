"""A tidy CLI, from a new user's first hour: one-line usage errors, plain
help in the order a user meets the commands, --version, any --limit, unknown
statuses refused everywhere, ``show`` and ``status`` for people, and a start
that loads only what the command needs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dispatch_indexer import DispatchIndex
from dispatch_indexer.cli import COMMAND_ORDER
from dispatch_indexer.errors import BadInputError, UnknownStatusError
from dispatch_indexer.http import create_app
from dispatch_indexer.store.query import check_statuses

from ..realdata import ARITH, FAILED, ROOT_NAMES

ERROR = "covalent-indexer: error: "


@pytest.fixture
def registered(cli, corpus: Path) -> Path:
    cli("add-dir", *[str(corpus / name) for name in ROOT_NAMES])
    cli("scan")
    return corpus


def one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith(ERROR), output
    return lines[0]


def test_version_is_the_package_metadatas(cli) -> None:
    out = cli("--version").output
    assert out.strip() == f"covalent-indexer {metadata.version('covalent-indexer')}"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["show"], "missing argument 'ID'"),
        (["list", "--bogus"], "no such option: --bogus"),
        (["lst"], "no such command 'lst'"),
        (["list", "--limit", "many"], "'--limit'"),
        (["--db"], "--db"),
        (["prune", "--missing", "--older-than", "-1"], "older-than must be an age"),
        (["serve", "--port", "70000"], "--port"),
        (["start", "--log-level", "LOUD"], "--log-level"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(cli, args: list[str], says: str) -> None:
    line = one_error_line(cli(*args, code=2).output)
    assert says in line
    assert "╭" not in line and "Usage:" not in line


def test_a_usage_mistake_is_one_line_on_stderr_from_the_real_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dispatch_indexer", "list", "--bogus"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert one_error_line(done.stderr).endswith("(see: covalent-indexer list --help)")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["list", "--limit", "5"], "list"),
        (["--home", "list", "show", "x"], "show"),
        (["--db", "sqlite:///x", "--home=h", "status"], "status"),
        (["--help"], None),
        ([], None),
    ],
)
def test_the_console_script_builds_only_the_command_named(
    argv: list[str], named: str | None
) -> None:
    from dispatch_indexer.cli import _command_named, _for_command, app

    assert _command_named(argv) == named
    built = _for_command(argv)
    if named is None:
        assert built is app
    else:
        assert [info.name for info in built.registered_commands] == [named]
        assert len(app.registered_commands) > 1  # the app itself is left whole


def test_help_reads_like_a_person_wrote_it(cli) -> None:
    top = cli("--help").output
    listed = re.findall(r"^  ([a-z-]+)  ", top.split("Commands:", 1)[1], re.MULTILINE)
    assert listed == [name for name in COMMAND_ORDER if name in listed]
    assert listed[:4] == ["add-dir", "scan", "list", "show"]
    commands = [[name] for name in listed if name != "service"]
    commands += [["service", "install"], ["service", "uninstall"], ["service"], []]
    for command in commands:
        text = cli(*command, "--help").output
        for machine_words in ("<", "[x>=", "<=x", "╭", "│"):
            assert machine_words not in text, (command, text)
    summaries = top.split("Commands:", 1)[1]
    assert not re.search(r"\.\.\.$", summaries, re.MULTILINE), top  # none cut short


def test_limit_takes_any_number_but_zero(cli, registered: Path) -> None:
    assert len(json.loads(cli("list", "--json", "--limit", "100000").output)) == 11
    assert len(json.loads(cli("list", "--json", "-n", "2").stdout)) == 2
    for bad in ("0", "-1"):
        assert "limit must be at least 1" in one_error_line(cli("list", "-n", bad, code=2).output)


def test_an_unknown_status_is_refused_naming_the_known_ones(
    cli, registered: Path, indexed_here: DispatchIndex
) -> None:
    line = one_error_line(cli("list", "--status", "FAILD", code=2).output)
    assert "unknown status FAILD" in line and "did you mean FAILED?" in line
    assert "COMPLETED" in line and "POSTPROCESSING_FAILED" in line
    assert json.loads(cli("list", "--json", "-s", "failed").output)[0]["dispatch_id"] == FAILED
    with pytest.raises(UnknownStatusError, match="unknown status FAILD") as raised:
        indexed_here.list(status="FAILD")
    assert isinstance(raised.value, BadInputError)
    with pytest.raises(UnknownStatusError):
        list(indexed_here.iterate(status=["COMPLETED", "DONE"]))
    with TestClient(create_app(indexed_here)) as client:
        response = client.get("/api/v1/dispatches", params={"status": "FAILD"})
    assert response.status_code == 422
    assert "unknown status FAILD" in response.json()["detail"]


@pytest.fixture
def indexed_here(registered: Path) -> Iterator[DispatchIndex]:
    with DispatchIndex() as index:
        yield index


def test_a_status_the_index_holds_is_known_though_covalent_never_wrote_it() -> None:
    check_statuses(("PLUGIN_STATE", "FAILED"), lambda: ["PLUGIN_STATE"])
    with pytest.raises(UnknownStatusError, match=r"known: NEW_OBJECT.*PLUGIN_STATE"):
        check_statuses(("OTHER",), lambda: ["PLUGIN_STATE"])


def test_show_prints_what_a_person_wants(cli, registered: Path) -> None:
    out = cli("show", FAILED).output
    for internal in ("mtime_ns", "inode", "sort_time", "hidden", "sha256", "last_event"):
        assert internal not in out
    assert re.search(r"^status\s+FAILED$", out, re.MULTILINE)
    assert re.search(r"^duration\s+\d", out, re.MULTILINE)
    block = out.split("error:\n", 1)[1].split("nodes (")[0].splitlines()
    assert len(block) > 2 and all(line.startswith("    ") for line in block)
    assert "RuntimeError: the task failed" in out
    assert "nodes (5):" in cli("show", ARITH).output
    full = json.loads(cli("show", FAILED, "--json").output)
    assert {"mtime_ns", "inode", "sort_time", "hidden", "error", "nodes"} <= set(full)


def test_status_pluralises_and_shows_the_last_full_scan(cli, registered: Path) -> None:
    out = cli("status").output
    assert "daemon: not running" in out
    assert re.search(r"results-alt  results  \[auto\]  1 dispatch$", out, re.MULTILINE), out
    assert re.search(r"/results  results  \[auto\]  10 dispatches$", out, re.MULTILINE), out
    assert "index: 11 dispatches (" in out
    scan = re.search(r"^last full scan: (.*)$", out, re.MULTILINE)
    assert scan and "scan command): 11 new" in scan.group(1), out
    cli("scan", str(registered / "results"))  # one folder: not a full scan
    assert "scan command): 11 new" in cli("status").output
    report = json.loads(cli("status", "--json").output)
    assert report["last_full_scan"]["summary"]["new"] == 11


def test_before_any_full_scan_status_says_how_to_get_one(cli, corpus: Path) -> None:
    cli("add-dir", str(corpus / "results"))
    assert "last full scan: none yet" in cli("status").output


# ---- what a command loads --------------------------------------------------

NOT_FOR_A_LISTING = (
    "psycopg",
    "pydantic",
    "watchdog",
    "rich",
    "fastapi",
    "uvicorn",
    "yaml",
    "dispatch_indexer.daemon.loop",
    "dispatch_indexer.read.pool",
    "dispatch_indexer.read.reader",
    "dispatch_indexer.scan.scanner",
    "dispatch_indexer.integrations.covalent_config",
    # The write side and the migrations: an index at today's schema is only read.
    "dispatch_indexer.store.write",
    "dispatch_indexer.store.forget",
    "dispatch_indexer.store.bulk",
    "dispatch_indexer.store.provisional",
    "dispatch_indexer.store.migrations",
)


def loaded_by(*args: str, prelude: str = "") -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run the command in a new interpreter; what it had imported by the end."""
    code = (
        "import atexit, json, os, sys\n"
        f"{prelude}\n"
        "atexit.register(lambda: open(os.environ['LOADED_OUT'], 'w').write("
        "json.dumps(sorted(sys.modules))))\n"
        "from dispatch_indexer.cli import main\n"
        f"sys.argv = ['covalent-indexer', *{list(args)!r}]\n"
        "main()\n"
    )
    out = Path(os.environ["HOME"]) / "loaded.json"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LOADED_OUT": str(out)},
    )
    return done, set(json.loads(out.read_text()))


@pytest.mark.sqlite_only
@pytest.mark.parametrize("command", [["list", "--limit", "50"], ["status"], ["show", ARITH]])
def test_reading_an_sqlite_index_loads_only_what_it_needs(
    cli, registered: Path, command: list[str]
) -> None:
    done, loaded = loaded_by(*command)
    assert done.returncode == 0, done.stderr
    assert ARITH in done.stdout or "dispatch" in done.stdout
    unwanted = sorted(
        m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_FOR_A_LISTING)
    )
    assert unwanted == []
    assert "peewee" in loaded  # it did read the index


@pytest.mark.sqlite_only
def test_a_postgresql_url_without_psycopg_says_how_to_get_it() -> None:
    done, _ = loaded_by(
        "--db",
        "postgresql://someone@127.0.0.1:1/index",
        "list",
        prelude="sys.modules['psycopg'] = None  # as if not installed",
    )
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert "pip install 'covalent-indexer[postgresql]'" in line


@pytest.mark.sqlite_only
def test_peewee_gets_psycopg_when_a_postgresql_index_opens(
    registered: Path, postgres_url: str
) -> None:
    """In one process: an SQLite index read without psycopg, then a
    PostgreSQL index opened, written and read (peewee handed the driver)."""
    code = (
        "import sys\n"
        "from dispatch_indexer import DispatchIndex\n"
        "with DispatchIndex() as index:\n"
        "    print(len(index.list(status='COMPLETED')), len(index.list()))\n"
        "import peewee\n"
        "assert peewee.psycopg is None and 'psycopg' not in sys.modules\n"
        f"with DispatchIndex({postgres_url!r}) as index:\n"
        "    index.scan()  # the same registered folders\n"
        "    print(len(index.list(status='COMPLETED')), len(index.list()))\n"
        "assert peewee.psycopg is not None\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    on_sqlite, on_postgresql = done.stdout.splitlines()
    assert on_sqlite == on_postgresql == "9 11"


def test_add_dir_again_with_watch_changes_it_and_without_keeps_it(cli, tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    cli("add-dir", str(folder), "--watch", "polling")
    cli("add-dir", str(folder))
    assert json.loads(cli("dirs", "--json").output)[0]["watch"] == "polling"
    cli("add-dir", str(folder), "--watch", "observer")
    assert json.loads(cli("dirs", "--json").output)[0]["watch"] == "observer"
