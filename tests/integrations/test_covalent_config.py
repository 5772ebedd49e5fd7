"""``add-dir --from-covalent``: Covalent's results_dir from its own covalent.conf."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.errors import BadInputError
from dispatch_indexer.integrations.covalent_config import (
    covalent_config_file,
    find_results_dir,
    results_dir_from_covalent,
)


@pytest.fixture
def covalent_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "covalent-config"
    folder.mkdir()
    monkeypatch.setenv("COVALENT_CONFIG_DIR", str(folder))
    monkeypatch.delenv("XDG_CONFIG_DIR", raising=False)
    return folder


def write_conf(folder: Path, results_dir: str | None, extra: str = "") -> Path:
    """A covalent.conf shaped like the one Covalent 0.110 writes."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["[sdk]", 'log_level = "warning"', "", "[dispatcher]", 'address = "localhost"']
    lines.append("port = 48008")
    if results_dir is not None:
        lines.append(f"results_dir = {json.dumps(results_dir)}")
    conf = folder / "covalent.conf"
    conf.write_text("\n".join(lines) + "\n" + extra)
    return conf


def test_absolute_results_dir(covalent_dir: Path, corpus: Path) -> None:
    conf = write_conf(covalent_dir, str(corpus / "results"))
    assert covalent_config_file() == conf
    assert results_dir_from_covalent() == corpus / "results"
    assert find_results_dir().note is None


def test_covalent_0110_layout_inside_the_config_dir(covalent_dir: Path, corpus: Path) -> None:
    conf = write_conf(covalent_dir / "covalent", str(corpus / "results"))
    assert covalent_config_file() == conf
    assert results_dir_from_covalent() == corpus / "results"


def test_default_folder_is_under_xdg_config_home(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COVALENT_CONFIG_DIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_DIR", raising=False)
    xdg = tmp_path / "user-home" / "xdg_config_home"  # from conftest
    conf = write_conf(xdg / "covalent", str(corpus / "results-alt"))
    assert covalent_config_file() == conf
    assert results_dir_from_covalent() == corpus / "results-alt"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    conf = write_conf(tmp_path / "user-home" / ".config" / "covalent", str(corpus / "results"))
    assert covalent_config_file() == conf
    assert results_dir_from_covalent() == corpus / "results"


def test_relative_results_dir_found_in_the_current_folder(
    covalent_dir: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_conf(covalent_dir, "results")
    monkeypatch.chdir(corpus)
    found = find_results_dir()
    assert found.path == corpus / "results"
    assert found.note and "relative" in found.note and str(corpus / "results") in found.note


def test_relative_results_dir_not_in_the_current_folder(
    covalent_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = write_conf(covalent_dir, "results")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInputError) as caught:
        results_dir_from_covalent()
    message = str(caught.value)
    assert str(conf) in message and "relative" in message and "working folder" in message


def test_missing_config_file_names_it(covalent_dir: Path) -> None:
    with pytest.raises(BadInputError) as caught:
        results_dir_from_covalent()
    assert str(covalent_dir / "covalent.conf") in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [
        '[sdk]\nlog_level = "warning"\n',
        "[dispatcher]\nport = 48008\n",
        "[dispatcher]\nresults_dir = 3\n",
    ],
)
def test_missing_key_names_the_file(covalent_dir: Path, content: str) -> None:
    (covalent_dir / "covalent.conf").write_text(content)
    with pytest.raises(BadInputError) as caught:
        results_dir_from_covalent()
    assert "results_dir" in str(caught.value)
    assert str(covalent_dir / "covalent.conf") in str(caught.value)


def test_unparsable_config_file(covalent_dir: Path) -> None:
    (covalent_dir / "covalent.conf").write_text("[dispatcher\nresults_dir = ")
    with pytest.raises(BadInputError, match="cannot read Covalent's config file"):
        results_dir_from_covalent()


def test_results_dir_that_does_not_exist(covalent_dir: Path, tmp_path: Path) -> None:
    write_conf(covalent_dir, str(tmp_path / "nowhere"))
    with pytest.raises(BadInputError, match="does not exist"):
        results_dir_from_covalent()
    (tmp_path / "a-file").write_text("x")
    write_conf(covalent_dir, str(tmp_path / "a-file"))
    with pytest.raises(BadInputError, match="not a folder"):
        results_dir_from_covalent()


def test_index_add_from_covalent(covalent_dir: Path, corpus: Path) -> None:
    write_conf(covalent_dir, str(corpus / "results"))
    with DispatchIndex() as index:
        added, found = index.add_from_covalent(also=[corpus / "results-alt"])
        assert added == [str(corpus / "results-alt"), str(corpus / "results")]
        assert found.path == corpus / "results"
        assert [r.path for r in index.dirs()] == added


def test_cli_from_covalent(cli, covalent_dir: Path, corpus: Path) -> None:
    write_conf(covalent_dir, str(corpus / "results"))
    out = cli("add-dir", "--from-covalent").output
    assert out.strip() == f"registered {corpus / 'results'}"
    roots = json.loads(cli("dirs", "--json").output)
    assert [r["path"] for r in roots] == [str(corpus / "results")]


def test_cli_from_covalent_with_paths(cli, covalent_dir: Path, corpus: Path) -> None:
    write_conf(covalent_dir, str(corpus / "results"))
    cli("add-dir", str(corpus / "snapshots"), "--from-covalent", "--watch", "polling")
    roots = json.loads(cli("dirs", "--json").output)
    assert [(r["path"], r["watch"]) for r in roots] == [
        (str(corpus / "snapshots"), "polling"),
        (str(corpus / "results"), "polling"),
    ]


def test_cli_relative_results_dir_prints_a_note(
    cli, covalent_dir: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_conf(covalent_dir, "results")
    monkeypatch.chdir(corpus)
    result = cli("add-dir", "--from-covalent")
    assert f"registered {corpus / 'results'}" in result.output
    assert "note:" in result.output and "relative" in result.output


def test_cli_errors_are_one_line_exit_2(cli, covalent_dir: Path, corpus: Path) -> None:
    result = cli("add-dir", "--from-covalent", code=2)
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("covalent-indexer: error: Covalent's config file")
    # Nothing registered, even with a good PATH alongside.
    cli("add-dir", str(corpus / "results"), "--from-covalent", code=2)
    assert json.loads(cli("dirs", "--json").output) == []


def test_cli_needs_paths_or_from_covalent(cli) -> None:
    result = cli("add-dir", code=2)
    assert "--from-covalent" in result.output
