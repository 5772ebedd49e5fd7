"""The dispatcher hook: ``record(folder)`` and the wrapper around Covalent's ``Result.save``."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.integrations import hook

from ..realdata import ARITH, FIXTURES

FIXTURE_PKL = FIXTURES / "results" / ARITH / "result.pkl"


def dispatch_copy(results_dir: Path, dispatch_id: str = ARITH) -> Path:
    folder = results_dir / dispatch_id
    shutil.copytree(FIXTURES / "results" / ARITH, folder, copy_function=shutil.copy2)
    for path in [folder, *folder.iterdir()]:
        path.chmod(path.stat().st_mode | 0o200)
    return folder


def roots() -> list[str]:
    with DispatchIndex() as index:
        return [r.path for r in index.dirs()]


def test_record_writes_the_dispatch_and_registers_its_results_dir(tmp_path: Path) -> None:
    folder = dispatch_copy(tmp_path / "results")
    record = hook.record(folder)
    assert record is not None
    assert record.dispatch_id == ARITH
    assert record.source == "hook"
    assert record.status == "COMPLETED" and record.result == 6
    assert record.path == str(folder)
    assert record.root == str(tmp_path / "results")
    assert roots() == [str(tmp_path / "results")]
    with DispatchIndex() as index:
        assert index.get(ARITH).source == "hook"
        assert index.result_bytes(ARITH) == FIXTURE_PKL.read_bytes()


def test_record_inside_a_registered_root_adds_no_root(tmp_path: Path) -> None:
    with DispatchIndex() as index:
        index.add_dirs([tmp_path])
    folder = dispatch_copy(tmp_path / "deep" / "results")
    record = hook.record(folder)
    assert record is not None and record.root == str(tmp_path)
    assert roots() == [str(tmp_path)]
    assert hook.record(folder) is not None  # again: still one root
    assert roots() == [str(tmp_path)]


def test_record_uses_the_given_home(tmp_path: Path) -> None:
    folder = dispatch_copy(tmp_path / "results")
    elsewhere = tmp_path / "elsewhere"
    assert hook.record(folder, home=elsewhere) is not None
    assert roots() == []
    with DispatchIndex(home=elsewhere) as index:
        assert index.get(ARITH).source == "hook"


@pytest.mark.parametrize("kind", ["missing", "empty", "garbage", "a-file"])
def test_record_of_a_bad_folder_returns_none(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "results" / "bad"
    if kind != "missing":
        folder.parent.mkdir(parents=True)
    if kind == "empty":
        folder.mkdir()
    elif kind == "garbage":
        folder.mkdir()
        (folder / "result.pkl").write_bytes(b"not a pickle at all")
    elif kind == "a-file":
        folder.write_text("x")
    assert hook.record(folder) is None


def test_record_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = dispatch_copy(tmp_path / "results")
    monkeypatch.setenv("COVALENT_INDEXER_DB", "mysql://nope")
    assert hook.record(folder) is None


def test_install_without_covalent_returns_false() -> None:
    if importlib.util.find_spec("covalent") is not None:
        pytest.skip("Covalent is installed here")
    before = set(sys.modules)
    assert hook.install_covalent_hook() is False
    assert not any(name.startswith("covalent") for name in set(sys.modules) - before)


# ---- a stand-in for Covalent's Result.save ------------------------------------

FAKE_RESULT = '''
import os
import shutil


class Result:
    """Saves like Covalent 0.110: <directory or results_dir>/<dispatch_id>/result.pkl."""

    source_pkl = None
    error = None

    def __init__(self, results_dir, dispatch_id):
        self.results_dir = results_dir
        self.dispatch_id = dispatch_id

    def save(self, directory=None, write_source=False):
        """Covalent's docstring."""
        if self.error is not None:
            raise self.error
        folder = os.path.join(directory or self.results_dir, self.dispatch_id)
        os.makedirs(folder, exist_ok=True)
        shutil.copy2(self.source_pkl, os.path.join(folder, "result.pkl"))
        return ("saved", folder)
'''


@pytest.fixture
def fake_covalent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    site = tmp_path / "site"
    package = site / "covalent" / "_results_manager"
    package.mkdir(parents=True)
    (site / "covalent" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "result.py").write_text(textwrap.dedent(FAKE_RESULT))
    monkeypatch.syspath_prepend(str(site))
    try:
        module = importlib.import_module("covalent._results_manager.result")
        module.Result.source_pkl = str(FIXTURE_PKL)
        yield module
    finally:
        for name in [n for n in sys.modules if n == "covalent" or n.startswith("covalent.")]:
            del sys.modules[name]


def test_hook_records_what_save_writes(fake_covalent: ModuleType, tmp_path: Path) -> None:
    original = fake_covalent.Result.save
    assert hook.install_covalent_hook() is True
    wrapped = fake_covalent.Result.save
    assert wrapped is not original and wrapped.__wrapped__ is original
    assert wrapped.__doc__ == "Covalent's docstring."
    assert hook.install_covalent_hook() is True  # not wrapped twice
    assert fake_covalent.Result.save is wrapped

    result = fake_covalent.Result(str(tmp_path / "results"), ARITH)
    assert result.save() == ("saved", str(tmp_path / "results" / ARITH))
    with DispatchIndex() as index:
        record = index.get(ARITH)
        assert record.source == "hook"
        assert record.path == str(tmp_path / "results" / ARITH)
        assert [r.path for r in index.dirs()] == [str(tmp_path / "results")]


def test_hook_follows_the_directory_argument(fake_covalent: ModuleType, tmp_path: Path) -> None:
    hook.install_covalent_hook()
    result = fake_covalent.Result(str(tmp_path / "unused"), ARITH)
    result.save(str(tmp_path / "other"))
    assert roots() == [str(tmp_path / "other")]


def test_save_errors_pass_through(fake_covalent: ModuleType, tmp_path: Path) -> None:
    hook.install_covalent_hook()
    result = fake_covalent.Result(str(tmp_path / "results"), ARITH)
    result.error = OSError(28, "No space left on device")
    with pytest.raises(OSError) as caught:
        result.save()
    assert caught.value is result.error
    assert roots() == []


def test_a_failing_hook_does_not_break_save(
    fake_covalent: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook.install_covalent_hook()
    result = fake_covalent.Result(str(tmp_path / "results"), ARITH)
    # The index cannot be opened: record() logs and gives up.
    monkeypatch.setenv("COVALENT_INDEXER_DB", "mysql://nope")
    assert result.save() == ("saved", str(tmp_path / "results" / ARITH))
    monkeypatch.delenv("COVALENT_INDEXER_DB")

    # Even record() itself blowing up stays inside the wrapper.
    def explode(folder: str) -> None:
        raise RuntimeError("hook bug")

    monkeypatch.setattr(hook, "record", explode)
    assert result.save() == ("saved", str(tmp_path / "results" / ARITH))
    assert (tmp_path / "results" / ARITH / "result.pkl").is_file()


def test_saved_folder_follows_covalents_rule(tmp_path: Path) -> None:
    class Saved:
        results_dir = "results"
        dispatch_id = ARITH

    assert hook._saved_folder(Saved(), (), {}) == f"results/{ARITH}"
    assert hook._saved_folder(Saved(), ("/elsewhere",), {}) == f"/elsewhere/{ARITH}"
    assert hook._saved_folder(Saved(), (), {"directory": None}) == f"results/{ARITH}"
    # Without the attributes there is nothing to record.
    assert hook._saved_folder(object(), (), {}) is None
