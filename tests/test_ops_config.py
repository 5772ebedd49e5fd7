"""``[[notify]]`` and ``[retention]`` survive the config being written back
(``add-dir`` saves it), and are read as written."""

from __future__ import annotations

from pathlib import Path

from dispatch_indexer import DispatchIndex
from dispatch_indexer import config as config_mod
from dispatch_indexer.paths import resolve

TABLES = """
[[notify]]
statuses = ["failed"]
command = ["notify-send", "Covalent failed"]

[[notify]]
statuses = ["COMPLETED"]
lattice = "train"
url = "http://127.0.0.1:9/hook"
on_history = true
name = "hook"

[retention]
older_than = "90d"
statuses = ["COMPLETED"]
"""


def test_notify_and_retention_survive_a_save(tmp_path: Path, home: Path) -> None:
    file = resolve().config_file
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(TABLES)
    folder = tmp_path / "results"
    folder.mkdir()
    with DispatchIndex() as index:
        index.add_dirs([folder])  # writes the config back
    config = config_mod.load(resolve())
    first, second = config.notify
    assert first.statuses == ["FAILED"]
    assert first.command == ["notify-send", "Covalent failed"]
    assert first.url is None and not first.on_history
    assert (second.key, second.lattice, second.on_history) == ("hook", "train", True)
    assert first.key.startswith("notify-") and first.key != second.key
    assert config.retention.enabled
    assert (config.retention.older_than, config.retention.statuses) == ("90d", ["COMPLETED"])
    assert config.roots[0].path == str(folder)
