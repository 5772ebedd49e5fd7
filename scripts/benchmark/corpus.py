"""The corpus: fixture dispatches cloned N times under the workdir, built
once and cached by size; the bare walk and the parse floor that are the
baselines of a scan; warming the files before each contender."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from dispatch_indexer.corpus import read_template, with_new_id, write_dispatch
from dispatch_indexer.read.reader import RESULT_FILE, read_dispatch

from .common import log

CORPUS_FORMAT = 1
# A template folder bigger than this (the 3 MB pickle + 12 MB source one) is "heavy".
HEAVY_BYTES = 1 << 20


class Templates:
    """The fixture dispatches the corpus is cloned from (read only)."""

    def __init__(self, fixtures: Path) -> None:
        manifest = json.loads((fixtures / "manifest.json").read_text())
        self.finished: list[Path] = []
        self.heavy: list[Path] = []
        self.running: Path | None = None
        self.running_final: Path | None = None
        self.new_object: Path | None = None
        for entry in manifest:
            folder = fixtures / entry["results_dir"] / entry["dispatch_id"]
            if entry.get("snapshot_of_running_dispatch"):
                self.running = folder
                continue
            if len(entry["dispatch_id"]) != 36:
                if entry["status"] == "NEW_OBJECT":
                    self.new_object = folder
                continue
            size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
            (self.heavy if size > HEAVY_BYTES else self.finished).append(folder)
        if self.running is not None:
            final = fixtures / "results" / self.running.name
            self.running_final = final if final.is_dir() else None
        if not self.finished or self.running is None or self.running_final is None:
            raise SystemExit(f"bench: the fixtures at {fixtures} lack the templates it needs")
        self._status: dict[Path, str | None] = {}

    def status(self, folder: Path) -> str | None:
        """What the indexer reads as this template's status."""
        if folder not in self._status:
            self._status[folder] = read_dispatch(folder).record.status
        return self._status[folder]


class Corpus:
    def __init__(self, folder: Path, ids: list[str], info: dict[str, Any]) -> None:
        self.folder = folder
        self.root = folder / "results"
        self.ids = ids
        self.info = info

    @property
    def n(self) -> int:
        return len(self.ids)


def ensure_corpus(workdir: Path, templates: Templates, n: int, heavy_every: int) -> Corpus:
    """N cloned dispatches under ``<workdir>/corpus/n<N>-heavy<K>/results``,
    built once and reused; strays left by an interrupted run are removed."""
    folder = workdir / "corpus" / f"n{n}-heavy{heavy_every}"
    root = folder / "results"
    manifest_file = folder / "manifest.json"
    ids_file = folder / "ids.txt"
    names = [p.name for p in templates.finished] + [p.name for p in templates.heavy]
    wanted = {"format": CORPUS_FORMAT, "n": n, "heavy_every": heavy_every, "templates": names}
    if manifest_file.exists() and ids_file.exists():
        with contextlib.suppress(ValueError, OSError):
            manifest = json.loads(manifest_file.read_text())
            if {k: manifest.get(k) for k in wanted} == wanted:
                ids = ids_file.read_text().split()
                present = set(os.listdir(root))
                known = set(ids)
                if len(ids) == n and known <= present:
                    strays = present - known
                    for name in strays:
                        shutil.rmtree(root / name, ignore_errors=True)
                    if strays:
                        log(f"corpus n={n}: removed {len(strays)} stray folder(s)")
                    log(f"corpus n={n}: reusing {root}")
                    return Corpus(folder, ids, {**manifest, "cached": True})
    log(f"corpus n={n}: building {root} (heavy dispatch every {heavy_every or 'never'})")
    shutil.rmtree(folder, ignore_errors=True)
    root.mkdir(parents=True)
    normal = [read_template(p) for p in templates.finished]
    heavy = [read_template(p) for p in templates.heavy] if heavy_every else []
    started = time.perf_counter()
    ids: list[str] = []
    heavy_count = 0
    used: dict[str, int] = {}
    for i in range(n):
        if heavy and heavy_every and i % heavy_every == heavy_every - 1:
            template = heavy[heavy_count % len(heavy)]
            heavy_count += 1
        else:
            template = normal[i % len(normal)]
        used[template[0]] = used.get(template[0], 0) + 1
        dispatch_id, files = with_new_id(template)
        write_dispatch(root, dispatch_id, files)
        ids.append(dispatch_id)
        if n >= 20_000 and (i + 1) % (n // 10) == 0:
            log(f"corpus n={n}: {i + 1:,} written")
    seconds = time.perf_counter() - started
    ids_file.write_text("\n".join(ids) + "\n")
    manifest = {
        **wanted,
        "heavy_count": heavy_count,
        "per_template": used,
        "build_seconds": round(seconds, 2),
        "built_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    manifest_file.write_text(json.dumps(manifest, indent=1))
    log(f"corpus n={n}: built in {seconds:.1f}s ({heavy_count} heavy)")
    return Corpus(folder, ids, {**manifest, "cached": False})


def bare_walk(root: Path) -> int:
    """The floor of any scan: find and stat every result.pkl (scandir + stat)."""
    count = 0
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                try:
                    os.stat(os.path.join(entry.path, RESULT_FILE), follow_symlinks=False)
                except FileNotFoundError:
                    stack.append(entry.path)
                    continue
                count += 1
    return count


def warm_files(root: Path) -> None:
    """Read every file of every dispatch folder once, so that every contender
    finds them in the page cache (the bare walk warms only the folders).

    Called right before each contender: the kernel of the VM this was built
    on pages out file cache untouched for about a minute (DAMON ``pageout``,
    see /sys/kernel/mm/damon), so files warmed before the parse floor's
    40 s were partly back on disk for the build that followed it."""
    for folder in walk_folders(root):
        for name in (RESULT_FILE, "result_info.yaml"):
            with contextlib.suppress(OSError), open(os.path.join(folder, name), "rb") as fh:
                while fh.read(1 << 20):
                    pass


def walk_folders(root: Path) -> list[str]:
    folders = []
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                if os.path.exists(os.path.join(entry.path, RESULT_FILE)):
                    folders.append(entry.path)
                else:
                    stack.append(entry.path)
    return folders


def parse_floor(root: Path) -> tuple[int, int]:
    """Walk, then read_dispatch every folder with no database: (read, unreadable)."""
    unreadable = 0
    folders = walk_folders(root)
    for folder in folders:
        if read_dispatch(folder, root=str(root)).record.unreadable:
            unreadable += 1
    return len(folders), unreadable
