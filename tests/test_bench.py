"""``scripts/bench --quick`` keeps working: it runs every measure and writes
them all as JSON. Performance targets are the bench's business, not this test's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .realdata import REPO

MEASURES = ("cold", "rescan", "live", "burst", "queries", "footprint", "server", "idle", "notify")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_bench_runs_every_measure(tmp_path: Path) -> None:
    workdir = tmp_path / "bench"
    out = tmp_path / "figures.json"
    env = {**os.environ, "BENCH_NO_REEXEC": "1"}
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "benchmark"),
            "--quick",
            "--workdir",
            str(workdir),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for file in (out, workdir / "bench-results.json"):
        report = json.loads(file.read_text())
        assert report["machine"]["cpu"]
        assert report["machine"]["sqlite"]
        for name in MEASURES:
            assert report["measures"][name]["status"] == "ok", (name, report["measures"][name])
        measures = report["measures"]
        assert measures["cold"]["seconds"]["median"] > 0
        assert measures["cold"]["bare_walk_seconds"]["median"] > 0
        assert measures["cold"]["parse_floor_seconds"]["median"] > 0
        assert measures["rescan"]["seconds"]["median"] > 0
        assert measures["rescan"]["find_seconds"]["median"] > 0
        # The naive Covalent listing runs when a venv with Covalent is at hand.
        naive = measures["cold"]["naive"]
        assert naive["status"] in ("ok", "skipped"), naive
        if naive["status"] == "ok":
            assert naive["seconds"]["median"] > 0 and naive["build_ratio"] > 0
        assert measures["live"]["runs"][0]["saves"] == report["config"]["live_saves"]
        assert "p50_ms" in measures["live"]
        assert measures["burst"]["burst_n"] == report["config"]["burst_n"]
        assert "lost" in measures["burst"]
        queries = measures["queries"]
        # Search and sort are measured against the first page, not raw SQL.
        side = set(queries["against_first_page"]) - {"plain_first_page_p50_ms"}
        assert set(queries["python"]) == set(queries["raw_sql"]) | side
        assert queries["against_first_page"]["search, one hit"]["ratio"] > 0
        assert "http" in measures["queries"]
        footprint = measures["footprint"]["sizes"][str(report["config"]["n"])]
        assert footprint["peak_rss_bytes"] > 0
        assert footprint["database_bytes_per_record"] > 0
        server = measures["server"]
        assert server["cold"]["seconds"] > 0 and server["legacy_listing"]["count"] > 0
        assert server["live"]["seen"] == server["live"]["changes"]
        assert measures["notify"]["row_to_command_ms"]["n"] > 0
        assert report["table"]
    # Everything it made is inside the work folder.
    assert (workdir / "corpus").is_dir()
    assert "measure" in done.stdout and "pass/fail" in done.stdout


def test_bench_wrapper_is_executable() -> None:
    wrapper = REPO / "scripts" / "bench"
    assert os.access(wrapper, os.X_OK)
    done = subprocess.run([str(wrapper), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout
