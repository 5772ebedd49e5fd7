"""``add-dir --from-covalent``: every folder Covalent's own covalent.conf names,
for the config of each generation (0.110's and 0.240's, shaped as those
releases write them), and Covalent's defaults without one."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from dispatch_indexer import DispatchIndex
from dispatch_indexer.errors import BadInputError
from dispatch_indexer.integrations.covalent_config import (
    CLIENT_RESULTS,
    DISPATCH_CACHE,
    SERVER_OR_RESULTS,
    covalent_config_file,
    read_covalent_config,
)

from ..conftest import copy_fixtures
from ..realdata import FIXTURES_240

SECRET = "pg-secret-never-shown"


@pytest.fixture
def covalent_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "covalent-config"
    folder.mkdir()
    monkeypatch.setenv("COVALENT_CONFIG_DIR", str(folder))
    for name in ("XDG_CONFIG_DIR", "COVALENT_DATABASE_URL", "COVALENT_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("COVALENT_DATA_DIR", "COVALENT_RESULTS_DIR", "COVALENT_DISPATCH_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return folder


def conf_0110(folder: Path, results_dir: str, dispatch_db: Path | None = None) -> Path:
    """A covalent.conf as Covalent 0.110.2 writes it: in ``covalent/`` below
    $COVALENT_CONFIG_DIR, ``results_dir`` (relative by default) and the UI's database."""
    cache = str(folder.parent / "cache" / "covalent")
    data: dict[str, Any] = {
        "sdk": {"log_dir": cache, "log_level": "warning", "enable_logging": "false"},
        "dispatcher": {
            "address": "0.0.0.0",
            "port": 48008,
            "cache_dir": cache,
            "results_dir": results_dir,
            "log_dir": cache,
        },
        "dask": {"cache_dir": cache, "log_dir": cache},
        "user_interface": {
            "address": "0.0.0.0",
            "port": 48008,
            "log_dir": cache,
            "dispatch_db": str(dispatch_db or Path(cache) / "dispatch_db.sqlite"),
        },
    }
    return _write(folder / "covalent" / "covalent.conf", data)


def conf_0240(folder: Path, **places: Path) -> Path:
    """A covalent.conf as Covalent 0.240.0 writes it, in $COVALENT_CONFIG_DIR;
    ``places``: data_dir, db_path, dispatch_cache_dir, client_results."""
    cache = str(folder.parent / "cache" / "covalent")
    data: dict[str, Any] = {
        "sdk": {
            "config_file": str(folder / "covalent.conf"),
            "log_dir": cache,
            "log_level": "warning",
            "enable_logging": "true",
            "executor_dir": str(folder / "executor_plugins"),
            "no_cluster": "true",
            "exhaustive_postprocess": "false",
            "dispatch_cache_dir": str(places["dispatch_cache_dir"]),
            "task_packing": "false",
            "results_dir": str(places["client_results"]),
        },
        "dispatcher": {
            "address": "localhost",
            "port": 48008,
            "cache_dir": cache,
            "results_dir": str(places["data_dir"]),
            "log_dir": cache,
            "db_path": str(places["db_path"]),
            "heartbeat_interval": 5,
            "heartbeat_file": cache + "/heartbeat",
            "use_async_dispatcher": "true",
            "asset_cache_size": 32,
        },
        "workflow_data": {"storage_type": "local", "base_dir": str(folder.parent / "wd")},
        "user_interface": {"address": "localhost", "port": 48008, "dev_port": 49009},
    }
    return _write(folder / "covalent.conf", data)


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


def place_0240(base: Path) -> dict[str, Path]:
    """The 0.240 fixture copied into the places a config names (the database
    away from the data dir, so only db_path can find it)."""
    places = {
        "data_dir": base / "srv" / "data",
        "db_path": base / "db" / "dispatcher_db.sqlite",
        "dispatch_cache_dir": base / "client" / "dispatches",
        "client_results": base / "client" / "results",
    }
    copy_fixtures(places["data_dir"], FIXTURES_240 / "server" / "data")
    places["db_path"].parent.mkdir(parents=True)
    shutil.copy2(FIXTURES_240 / "server" / "dispatcher_db.sqlite", places["db_path"])
    copy_fixtures(places["dispatch_cache_dir"], FIXTURES_240 / "client" / "dispatches")
    copy_fixtures(places["client_results"], FIXTURES_240 / "client" / "results")
    return places


def ui_database(path: Path) -> Path:
    """Covalent 0.110's UI database: JSON copies of results, nothing to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE dispatches (dispatch_id text primary key, result_dict text)")
    return path


def client_outcome(found: Any, folder: Path) -> str:
    """A client folder is registered once ``root_for`` takes client kinds,
    and skipped with why until then."""
    kinds = {r.path: r.kind for r in found.roots}
    if str(folder) in kinds:
        return kinds[str(folder)]
    (why,) = [s.why for s in found.skipped if s.path == str(folder)]
    assert "not supported yet" in why
    return "skipped"


# ---- Covalent 0.240 ----------------------------------------------------------


def test_0240_config_names_the_server_and_the_client(covalent_dir: Path, tmp_path: Path) -> None:
    places = place_0240(tmp_path / "p")
    conf = conf_0240(covalent_dir, **places)
    assert covalent_config_file() == conf
    config = read_covalent_config()
    assert [(c.path, c.expect) for c in config.candidates] == [
        (places["data_dir"], SERVER_OR_RESULTS),
        (places["dispatch_cache_dir"], DISPATCH_CACHE),
        (places["client_results"], CLIENT_RESULTS),
    ]
    assert config.candidates[0].database == str(places["db_path"])
    with DispatchIndex() as index:
        found = index.add_from_covalent()
        server = found.roots[0]
        assert (server.path, server.kind, server.covalent_db) == (
            str(places["data_dir"]),
            "covalent-data",
            str(places["db_path"]),
        )
        assert client_outcome(found, places["dispatch_cache_dir"]) in ("dispatch-cache", "skipped")
        assert client_outcome(found, places["client_results"]) in ("client-results", "skipped")
        assert [r.path for r in index.dirs()] == [r.path for r in found.roots]
        summary = index.scan()
        assert summary.new == 11, summary.errors
        assert index.counts()["COMPLETED"] >= 1


def test_0240_without_a_config_file_uses_covalents_defaults(covalent_dir: Path) -> None:
    home = Path.home()
    # The data dir's default is under $HOME; the database's under $XDG_DATA_HOME.
    data_dir = home / ".local" / "share" / "covalent" / "data"
    database = home / "xdg_data_home" / "covalent" / "dispatcher_db.sqlite"
    copy_fixtures(data_dir, FIXTURES_240 / "server" / "data")
    database.parent.mkdir(parents=True)
    shutil.copy2(FIXTURES_240 / "server" / "dispatcher_db.sqlite", database)
    assert covalent_config_file() is None
    with DispatchIndex() as index:
        found = index.add_from_covalent()
    assert found.file is None
    assert [(r.path, r.kind, r.covalent_db) for r in found.roots] == [
        (str(data_dir), "covalent-data", str(database))
    ]
    cache = home / "xdg_cache_home" / "covalent"
    assert [s.path for s in found.skipped] == [str(cache / "dispatches"), str(cache / "results")]
    assert all("does not exist" in s.why and "default" in s.why for s in found.skipped)


def test_environment_seeds_only_what_the_file_lacks(
    covalent_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    places = place_0240(tmp_path / "p")
    conf_0240(covalent_dir, **places)
    monkeypatch.setenv("COVALENT_DATABASE", str(tmp_path / "elsewhere.sqlite"))
    monkeypatch.setenv("COVALENT_DISPATCH_CACHE_DIR", str(tmp_path / "elsewhere"))
    config = read_covalent_config()
    assert config.candidates[0].database == str(places["db_path"])
    assert config.candidates[1].path == places["dispatch_cache_dir"]
    # Without the keys, the environment decides, as in Covalent's defaults.
    (covalent_dir / "covalent.conf").write_text('[dispatcher]\nport = 48008\n[sdk]\nx = "y"\n')
    monkeypatch.setenv("COVALENT_DATABASE", str(places["db_path"]))
    monkeypatch.setenv("COVALENT_DATA_DIR", str(places["data_dir"]))
    config = read_covalent_config()
    assert (config.candidates[0].path, config.candidates[0].database) == (
        places["data_dir"],
        str(places["db_path"]),
    )
    assert "$COVALENT_DATA_DIR" in config.candidates[0].origin
    assert config.candidates[1].path == tmp_path / "elsewhere"


def test_an_empty_data_dir_with_its_database_is_registered(
    covalent_dir: Path, tmp_path: Path
) -> None:
    places = place_0240(tmp_path / "p")
    shutil.rmtree(places["data_dir"])
    places["data_dir"].mkdir()
    shutil.rmtree(places["dispatch_cache_dir"])
    places["dispatch_cache_dir"].mkdir()
    conf_0240(covalent_dir, **places)
    with DispatchIndex() as index:
        found = index.add_from_covalent()
    assert found.roots[0].kind == "covalent-data"
    (why,) = [s.why for s in found.skipped if s.path == str(places["dispatch_cache_dir"])]
    assert why.startswith("nothing in it yet") and "dispatch cache" in why


def test_a_server_on_postgresql(
    covalent_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    places = place_0240(tmp_path / "p")
    conf_0240(covalent_dir, **places)
    url = f"postgresql+psycopg2://covalent:{SECRET}@db.example:5432/covalent"
    monkeypatch.setenv("COVALENT_DATABASE_URL", url)
    assert read_covalent_config().candidates[0].database == url
    with DispatchIndex() as index:
        found = index.add_from_covalent()
    said = json.dumps([vars(r) for r in found.roots]) + json.dumps([vars(s) for s in found.skipped])
    assert SECRET not in said
    # Registered with its URL once add-dir takes one, skipped with why until then.
    kinds = {r.path: r.covalent_db for r in found.roots}
    if str(places["data_dir"]) in kinds:
        assert kinds[str(places["data_dir"])] == url
    else:
        assert str(places["data_dir"]) in {s.path for s in found.skipped}


# ---- Covalent 0.110 ----------------------------------------------------------


def test_0110_absolute_results_dir(covalent_dir: Path, corpus: Path) -> None:
    ui = ui_database(covalent_dir.parent / "cache" / "covalent" / "dispatch_db.sqlite")
    conf = conf_0110(covalent_dir, str(corpus / "results"), ui)
    assert covalent_config_file() == conf
    with DispatchIndex() as index:
        found = index.add_from_covalent(also=[corpus / "results-alt"])
        assert found.file == conf
        assert [(r.path, r.kind) for r in found.roots] == [
            (str(corpus / "results-alt"), "results"),
            (str(corpus / "results"), "results"),
        ]
        assert [r.path for r in index.dirs()] == [r.path for r in found.roots]
    (why,) = [s.why for s in found.skipped if s.path == str(ui)]
    assert "[user_interface] dispatch_db" in why and "not read" in why


def test_0110_relative_results_dir_found_in_the_current_folder(
    covalent_dir: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_0110(covalent_dir, "results")
    monkeypatch.chdir(corpus)
    with DispatchIndex() as index:
        found = index.add_from_covalent()
    assert [r.path for r in found.roots] == [str(corpus / "results")]
    (note,) = found.notes
    assert "relative" in note and str(corpus / "results") in note


def test_0110_relative_results_dir_elsewhere_is_an_error_naming_why(
    covalent_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = conf_0110(covalent_dir, "results")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInputError) as caught, DispatchIndex() as index:
        index.add_from_covalent()
    message = str(caught.value)
    assert "none of the folders" in message and "relative" in message and str(conf) in message


def test_an_empty_configured_results_dir_is_registered(covalent_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty-results").mkdir()
    conf_0110(covalent_dir, str(tmp_path / "empty-results"))
    with DispatchIndex() as index:
        found = index.add_from_covalent()
    assert [(r.path, r.kind) for r in found.roots] == [(str(tmp_path / "empty-results"), "results")]


def test_a_results_dir_of_result_pkl_ignores_the_server_database(
    covalent_dir: Path, tmp_path: Path, corpus: Path
) -> None:
    # A user who upgraded: the old results folder in results_dir, a database too.
    places = place_0240(tmp_path / "p")
    places["data_dir"] = corpus / "results"
    conf_0240(covalent_dir, **places)
    with DispatchIndex() as index:
        found = index.add_from_covalent()
    assert (found.roots[0].path, found.roots[0].kind, found.roots[0].covalent_db) == (
        str(corpus / "results"),
        "results",
        None,
    )


def test_0136_database_under_user_interface(covalent_dir: Path, tmp_path: Path) -> None:
    # 0.136-0.160 kept the server's tables at [user_interface] dispatch_db and
    # had no [dispatcher] db_path (the 0.240 tables stand in for theirs).
    places = place_0240(tmp_path / "p")
    old = covalent_dir.parent / "cache" / "covalent" / "dispatch_db.sqlite"
    old.parent.mkdir(parents=True)
    places["db_path"].rename(old)
    conf_0110(covalent_dir, str(places["data_dir"]), old)
    with DispatchIndex() as index:
        found = index.add_from_covalent()
    assert [(r.path, r.kind, r.covalent_db) for r in found.roots] == [
        (str(places["data_dir"]), "covalent-data", str(old))
    ]


# ---- where the file is -------------------------------------------------------


def test_config_file_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COVALENT_CONFIG_DIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_DIR", raising=False)
    assert covalent_config_file() is None
    home = Path.home()
    default = _write(home / ".config" / "covalent" / "covalent.conf", {})
    assert covalent_config_file() == default
    # 0.209 on: $XDG_CONFIG_DIR is the folder of the file itself.
    monkeypatch.setenv("XDG_CONFIG_DIR", str(tmp_path / "xdg"))
    old = _write(tmp_path / "xdg" / "covalent" / "covalent.conf", {})
    assert covalent_config_file() == old
    new = _write(tmp_path / "xdg" / "covalent.conf", {})
    assert covalent_config_file() == new
    monkeypatch.setenv("COVALENT_CONFIG_DIR", str(tmp_path / "cfg"))
    assert covalent_config_file() is None
    assert _write(tmp_path / "cfg" / "covalent" / "covalent.conf", {}) == covalent_config_file()


def test_unparsable_config_file(covalent_dir: Path) -> None:
    (covalent_dir / "covalent.conf").write_text("[dispatcher\nresults_dir = ")
    with pytest.raises(BadInputError, match="cannot read Covalent's config file"):
        read_covalent_config()


# ---- the command -------------------------------------------------------------


def test_cli_prints_each_folder_with_its_kind(cli, covalent_dir: Path, tmp_path: Path) -> None:
    places = place_0240(tmp_path / "p")
    conf_0240(covalent_dir, **places)
    lines = cli("add-dir", "--from-covalent").output.splitlines()
    assert lines[0] == (
        f"registered {places['data_dir']} (Covalent server data, database {places['db_path']})"
    )
    for key in ("dispatch_cache_dir", "client_results"):
        assert any(
            line.startswith((f"registered {places[key]} (", f"skipped {places[key]}: "))
            for line in lines[1:]
        )
    roots = json.loads(cli("dirs", "--json").output)
    assert roots[0]["path"] == str(places["data_dir"]) and roots[0]["kind"] == "covalent-data"


def test_cli_legacy_output_and_note(
    cli, covalent_dir: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_0110(covalent_dir, "results")
    monkeypatch.chdir(corpus)
    result = cli("add-dir", "--from-covalent", str(corpus / "snapshots"), "--watch", "polling")
    assert f"registered {corpus / 'results'} (results folders)" in result.output
    assert "note:" in result.output and "relative" in result.output
    roots = json.loads(cli("dirs", "--json").output)
    assert [(r["path"], r["watch"]) for r in roots] == [
        (str(corpus / "snapshots"), "polling"),
        (str(corpus / "results"), "polling"),
    ]


def test_cli_nothing_found_is_one_line_exit_2(cli, covalent_dir: Path, corpus: Path) -> None:
    result = cli("add-dir", "--from-covalent", code=2)
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("covalent-indexer: error: none of the folders")
    # Nothing registered, even with a good PATH alongside.
    cli("add-dir", str(corpus / "results"), "--from-covalent", code=2)
    assert json.loads(cli("dirs", "--json").output) == []


def test_cli_needs_paths_or_from_covalent(cli) -> None:
    result = cli("add-dir", code=2)
    assert "--from-covalent" in result.output
