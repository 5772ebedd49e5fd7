#!/usr/bin/env python3
"""The covalent-indexer benchmark (issue 5): every measure beside its baseline.

Usage: ``scripts/bench [--quick] [--n 100000] [--queries-n 1000000] [--repeat 3]
[--workdir DIR] [--json OUT] [--only cold,rescan,live,burst,queries,footprint]``.

One invocation builds (or reuses) a corpus of cloned Covalent 0.110 dispatches,
runs each measure and its baseline in the same run, prints a table (measure |
value | baseline | ratio | target | pass/fail) and writes every figure as JSON
(``<workdir>/bench-results.json``, and ``--json OUT``), with the machine it ran
on. Timed figures are medians over ``--repeat`` runs with their min/max.

Every path it uses is under ``--workdir``; ``COVALENT_INDEXER_HOME``, ``HOME``
and the XDG folders point inside it, so the real home is never touched. The
corpus is cached there between runs, keyed by its size.

Measures: cold (index N dispatches from nothing; baselines: a bare
scandir+stat walk and the parse floor, read_dispatch on every folder with no
database), rescan (nothing changed, vs the bare walk), live (a real daemon; a
writer process saves at a steady rate, a reader process polls SQLite for each
(id, status)), burst (dispatches written as fast as one process can; time
until the last is indexed and how many were lost), queries (rows synthesized
into a fresh index; Python API, raw SQL and HTTP API), footprint (the daemon's
peak and steady memory, inotify watches, database bytes per record).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import http.client
import importlib.util
import io
import json
import os
import platform
import pstats
import random
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
VENV = REPO / ".venv"


def _reexec_under_venv() -> None:
    """Run under the repository's .venv when started with another Python."""
    python = VENV / "bin" / "python"
    if not python.exists() or os.environ.get("BENCH_NO_REEXEC"):
        return
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__":
    _reexec_under_venv()

import peewee  # noqa: E402
import watchdog  # noqa: E402

from dispatch_indexer import DispatchIndex  # noqa: E402
from dispatch_indexer import config as config_mod  # noqa: E402
from dispatch_indexer.corpus import (  # noqa: E402
    read_template,
    with_new_id,
    write_dispatch,
    write_in_place,
)
from dispatch_indexer.daemon.watcher import inotify_watch_count  # noqa: E402
from dispatch_indexer.paths import resolve as resolve_paths  # noqa: E402
from dispatch_indexer.read.reader import RESULT_FILE, read_dispatch  # noqa: E402
from dispatch_indexer.records import FINAL_STATUSES  # noqa: E402
from dispatch_indexer.store.engine import sqlite_path  # noqa: E402
from dispatch_indexer.store.query import Cursor  # noqa: E402

FIXTURES = Path(
    os.environ.get("COVALENT_INDEXER_FIXTURES", REPO.parent / "shared/fixtures/covalent-0.110")
)
MEASURES = ("cold", "rescan", "live", "burst", "queries", "footprint")
# Run only when named in --only (see ingest_pg.py).
EXTRA_MEASURES = ("ingest-pg",)
CORPUS_FORMAT = 1
# A template folder bigger than this (the 3 MB pickle + 12 MB source one) is "heavy".
HEAVY_BYTES = 1 << 20
# How often a running daemon's memory (with its reader workers) is sampled.
SAMPLE_SECONDS = 0.25
# A RUNNING save is completed in place this many saves later.
LIVE_GAP = 22

FULL = {
    "n": 100_000,
    "queries_n": 1_000_000,
    "repeat": 3,
    "live_saves": 1000,
    "live_rate": 50.0,
    "burst_n": 20_000,
    "query_reps": 200,
    "query_budget": 15.0,
    "burst_deadline": 600.0,
    "live_timeout": 60.0,
    "footprint_rescan_interval": 10.0,
}
QUICK = {
    "n": 300,
    "queries_n": 5_000,
    "repeat": 1,
    "live_saves": 50,
    "live_rate": 50.0,
    "burst_n": 300,
    "query_reps": 30,
    "query_budget": 5.0,
    "burst_deadline": 60.0,
    "live_timeout": 20.0,
    "footprint_rescan_interval": 2.0,
}


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


# ---- statistics -----------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolating between ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: list[float]) -> dict[str, Any]:
    """Median over repeats, with min and max and every run."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


def distribution(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "p50": percentile(samples, 50),
        "p90": percentile(samples, 90),
        "p99": percentile(samples, 99),
        "min": min(samples),
        "max": max(samples),
        "mean": statistics.fmean(samples),
    }


# ---- the machine ------------------------------------------------------------


def _proc_field(path: str, key: str) -> str | None:
    try:
        with open(path) as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def filesystem_of(path: Path) -> dict[str, str]:
    """The mount (fstype, device, mount point) that holds ``path``."""
    target = os.path.realpath(path)
    best = {"fstype": "unknown", "device": "unknown", "mount": "/"}
    best_len = -1
    with contextlib.suppress(OSError), open("/proc/self/mounts") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 3:
                continue
            device, mount, fstype = parts[0], parts[1].replace("\\040", " "), parts[2]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > best_len:
                best = {"fstype": fstype, "device": device, "mount": mount}
                best_len = len(mount)
    return best


def machine(workdir: Path) -> dict[str, Any]:
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    ram_gb = round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "ram_gb": ram_gb,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "kernel": f"{platform.system()} {platform.release()}",
        "filesystem": filesystem_of(workdir),
        "peewee": peewee.__version__,
        "watchdog": getattr(watchdog, "__version__", None) or _dist_version("watchdog"),
        "inotify_max_queued_events": _read_int("/proc/sys/fs/inotify/max_queued_events"),
        "inotify_max_user_watches": _read_int("/proc/sys/fs/inotify/max_user_watches"),
    }
    fs = info["filesystem"]
    info["line"] = (
        f"{info['cpu']}, {info['cores']} cores ({usable} usable), {ram_gb} GB RAM, "
        f"{info['python']}, SQLite {info['sqlite']}, {info['kernel']}, "
        f"workdir on {fs['fstype']} ({fs['device']})"
    )
    return info


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


# ---- fixtures and the corpus ------------------------------------------------


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


def warm_database(home: Path) -> None:
    """Read the index's files once, for the rescan, as ``warm_files`` does
    the dispatch folders for the walk (the walk that is its baseline finds
    the folders in the kernel's caches, which the pageout leaves alone)."""
    db = db_path_of(home)
    for path in db.parent.glob(db.name + "*"):
        with contextlib.suppress(OSError), open(path, "rb") as fh:
            while fh.read(1 << 22):
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


# ---- processes ----------------------------------------------------------------


def proc_memory(pid: int) -> dict[str, int]:
    """VmHWM (peak) and VmRSS (current) of a process, in bytes."""
    out = {}
    for key in ("VmHWM", "VmRSS"):
        value = _proc_field(f"/proc/{pid}/status", key)
        if value:
            out[key] = int(value.split()[0]) * 1024
    return out


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the daemon's reader workers)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: fields follow the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_memory(pid: int) -> dict[str, Any]:
    """The process's own VmHWM/VmRSS, and summed over it and its descendants
    (the sum of peaks is an upper bound: the peaks need not coincide)."""
    own = proc_memory(pid)
    others = [proc_memory(child) for child in descendants(pid)]
    others = [m for m in others if m]
    return {
        **own,
        "processes": 1 + len(others),
        "VmRSS_with_children": own.get("VmRSS", 0) + sum(m.get("VmRSS", 0) for m in others),
        "VmHWM_sum_with_children": own.get("VmHWM", 0) + sum(m.get("VmHWM", 0) for m in others),
    }


def code_fingerprint() -> dict[str, Any]:
    """Which library code ran: a hash of dispatch_indexer's sources and the
    newest file (there is no git here; the tree may change under a long run)."""
    import hashlib

    import dispatch_indexer

    package = Path(dispatch_indexer.__file__).resolve().parent
    digest = hashlib.sha256()
    newest = (0.0, "")
    for file in sorted(package.rglob("*.py")):
        digest.update(str(file.relative_to(package)).encode())
        digest.update(file.read_bytes())
        newest = max(newest, (file.stat().st_mtime, str(file.relative_to(package.parent))))
    return {
        "package": str(package),
        "sha256": digest.hexdigest()[:16],
        "newest_file": newest[1],
        "newest_mtime": dt.datetime.fromtimestamp(newest[0], dt.timezone.utc).isoformat(),
    }


def db_path_of(home: Path) -> Path:
    return resolve_paths(home).database_file


def ro_connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(
        f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True, isolation_level=None
    )


def db_files_size(path: Path) -> dict[str, int]:
    sizes = {}
    for suffix in ("", "-wal", "-shm"):
        file = Path(f"{path}{suffix}")
        sizes[suffix.lstrip("-") or "db"] = file.stat().st_size if file.exists() else 0
    return sizes


class Daemon:
    """``covalent-indexer start --foreground --quiet`` as a real child process."""

    def __init__(self, home: Path, log_file: Path) -> None:
        self.home = home
        self.paths = resolve_paths(home)
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_seconds: float | None = None
        # The daemon reads in worker processes that come and go: their memory
        # is sampled, with the daemon's, every SAMPLE_SECONDS while it runs.
        self.sampled_peak_total_rss = 0
        self.sampled_max_processes = 0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._sampling.wait(SAMPLE_SECONDS):
            if self.proc is None or self.proc.poll() is not None:
                return
            memory = tree_memory(self.proc.pid)
            self.sampled_peak_total_rss = max(
                self.sampled_peak_total_rss, memory.get("VmRSS_with_children", 0)
            )
            self.sampled_max_processes = max(self.sampled_max_processes, memory["processes"])

    def sampled(self) -> dict[str, Any]:
        return {
            "sampled_peak_rss_with_workers_bytes": self.sampled_peak_total_rss,
            "sampled_max_processes": self.sampled_max_processes,
            "sample_seconds": SAMPLE_SECONDS,
        }

    def start(self, timeout: float) -> Daemon:
        command = [sys.executable, "-m", "dispatch_indexer", "--home", str(self.home)]
        command += ["start", "--foreground", "--quiet"]
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as err:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
            )
        self._sampling.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if self._ready():
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited ({self.proc.returncode}): {self._tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the daemon was not ready within {timeout:.0f}s")
            time.sleep(0.05)
        self.ready_seconds = time.monotonic() - started
        return self

    def _tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def status(self) -> dict[str, Any]:
        try:
            return json.loads(self.paths.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def _ready(self) -> bool:
        report = self.status()
        return (
            self.proc is not None
            and report.get("pid") == self.proc.pid
            and report.get("running") is not False
            and report.get("last_full_scan") is not None
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def memory(self) -> dict[str, Any]:
        return tree_memory(self.pid)

    def watches(self) -> int:
        return inotify_watch_count(self.pid)

    def log_count(self, text: str) -> int:
        try:
            return self.paths.log_file.read_text(errors="replace").count(text)
        except OSError:
            return 0

    def stop(self) -> None:
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join()
            self._sampler = None
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- the run ----------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir: Path = args.workdir
        self.run_dir = self.workdir / "run"
        self.templates = Templates(FIXTURES)
        self.corpora: dict[int, Corpus] = {}
        self.indexed_homes: dict[int, Path] = {}
        self.results: dict[str, Any] = {}
        self.notes: list[str] = []

    # -- shared helpers --

    def corpus(self, n: int) -> Corpus:
        if n not in self.corpora:
            self.corpora[n] = ensure_corpus(self.workdir, self.templates, n, self.args.heavy_every)
        return self.corpora[n]

    def fresh_home(self, name: str) -> Path:
        home = self.run_dir / name
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        return home

    def indexed_home(self, n: int) -> Path:
        """A home whose index holds the n-corpus (from the cold build, or built now)."""
        if n not in self.indexed_homes:
            corpus = self.corpus(n)
            home = self.fresh_home(f"indexed-{n}")
            log(f"indexing the n={n} corpus (untimed, for the measures that need it)")
            with DispatchIndex(home=home) as index:
                index.add_dirs([corpus.root])
                index.scan()
            self.indexed_homes[n] = home
        return self.indexed_homes[n]

    # -- 1. cold build --

    def measure_cold(self) -> dict[str, Any]:
        args = self.args
        corpus = self.corpus(args.n)
        found = bare_walk(corpus.root)  # warms the page cache for every contender
        if found != corpus.n:
            raise RuntimeError(f"the bare walk found {found} dispatches, expected {corpus.n}")
        walks, floors, builds, listings, summaries = [], [], [], [], []
        home = None
        for r in range(args.repeat):
            t = time.perf_counter()
            bare_walk(corpus.root)
            walks.append(time.perf_counter() - t)
            warm_files(corpus.root)
            t = time.perf_counter()
            _read, unreadable_floor = parse_floor(corpus.root)
            floors.append(time.perf_counter() - t)
            if home is not None:
                shutil.rmtree(home, ignore_errors=True)
            home = self.fresh_home(f"cold-{r}")
            with DispatchIndex(home=home) as index:
                index.add_dirs([corpus.root])
                warm_files(corpus.root)
                t = time.perf_counter()
                summary = index.scan()
                builds.append(time.perf_counter() - t)
            listings.append(summary.listed_seconds)
            summaries.append(summary.line())
            if summary.new != corpus.n:
                raise RuntimeError(f"cold build indexed {summary.new} of {corpus.n}")
            log(
                f"cold {r + 1}/{args.repeat}: walk {walks[-1]:.3f}s, parse floor "
                f"{floors[-1]:.2f}s, build {builds[-1]:.2f}s ({summary.line()})"
            )
        assert home is not None
        self.indexed_homes[args.n] = home
        db = db_path_of(home)
        build, walk, floor = spread(builds), spread(walks), spread(floors)
        listed = spread(listings)
        ratio = build["median"] / walk["median"]
        result = {
            "n": corpus.n,
            "seconds": build,
            "per_dispatch_ms": build["median"] / corpus.n * 1000,
            "dispatches_per_second": corpus.n / build["median"],
            "bare_walk_seconds": walk,
            "parse_floor_seconds": floor,
            "parse_floor_unreadable": unreadable_floor,
            "ratio_to_bare_walk": ratio,
            "ratio_to_parse_floor": build["median"] / floor["median"],
            # The listing pass (listing.py): every dispatch listed with its
            # status from result_info.yaml, before the first result.pkl is read.
            "listed_seconds": listed,
            "listed_ratio_to_bare_walk": listed["median"] / walk["median"],
            "target": "<= 6x bare walk",
            "pass": ratio <= 6,
            "scan_summaries": summaries,
            "database_bytes": db_files_size(db),
        }
        if args.profile:
            result["profile"] = self.profile_cold(corpus)
        return result

    def profile_cold(self, corpus: Corpus) -> dict[str, Any]:
        home = self.fresh_home("cold-profile")
        profiler = cProfile.Profile()
        with DispatchIndex(home=home) as index:
            index.add_dirs([corpus.root])
            profiler.enable()
            index.scan()
            profiler.disable()
        out = self.workdir / "cold-build.pstats"
        profiler.dump_stats(out)
        stats = pstats.Stats(profiler)
        total = stats.total_tt  # type: ignore[attr-defined]
        rows = []
        for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            rows.append(
                {
                    "function": f"{_short(file)}:{line}({func})",
                    "calls": nc,
                    "tottime": tt,
                    "cumtime": ct,
                }
            )
        top_tot = sorted(rows, key=lambda r: r["tottime"], reverse=True)[:25]
        top_cum = sorted(rows, key=lambda r: r["cumtime"], reverse=True)[:40]
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        (self.workdir / "cold-build-profile.txt").write_text(text.getvalue())
        shutil.rmtree(home, ignore_errors=True)
        return {
            "total_seconds": total,
            "pstats": str(out),
            "by_tottime": top_tot,
            "by_cumtime": top_cum,
        }

    # -- 2. rescan --

    def measure_rescan(self) -> dict[str, Any]:
        args = self.args
        corpus = self.corpus(args.n)
        home = self.indexed_home(args.n)
        bare_walk(corpus.root)
        walks, scans, summaries = [], [], []
        for r in range(args.repeat):
            t = time.perf_counter()
            bare_walk(corpus.root)
            walks.append(time.perf_counter() - t)
            with DispatchIndex(home=home) as index:
                warm_database(home)
                t = time.perf_counter()
                summary = index.scan()
                scans.append(time.perf_counter() - t)
            summaries.append(summary.line())
            if summary.unchanged != corpus.n or summary.new or summary.updated:
                raise RuntimeError(f"rescan was not a no-op: {summary.line()}")
            log(f"rescan {r + 1}/{args.repeat}: walk {walks[-1]:.3f}s, rescan {scans[-1]:.3f}s")
        scan, walk = spread(scans), spread(walks)
        ratio = scan["median"] / walk["median"]
        return {
            "n": corpus.n,
            "seconds": scan,
            "bare_walk_seconds": walk,
            "ratio_to_bare_walk": ratio,
            "target": "<= 1.5x bare walk",
            "pass": ratio <= 1.5,
            "scan_summaries": summaries,
        }

    # -- 3 and 4. live latency and burst, against one running daemon --

    def measure_live_and_burst(self, live: bool, burst: bool) -> dict[str, Any]:
        args = self.args
        corpus = self.corpus(args.n)
        home = self.indexed_home(args.n)
        written: list[str] = []
        out: dict[str, Any] = {}
        daemon = Daemon(home, self.run_dir / "logs" / "daemon-live.stderr")
        try:
            log(f"live/burst: starting the daemon on {corpus.n:,} indexed dispatches")
            daemon.start(timeout=120 + corpus.n * 0.01)
            start_seconds = daemon.ready_seconds
            if live:
                try:
                    out["live"] = self._live(daemon, corpus, written)
                    out["live"]["daemon_start_seconds"] = start_seconds
                except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                    out["live"] = _error(exc)
            if burst:
                try:
                    out["burst"] = self._burst(daemon, corpus, written)
                except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                    out["burst"] = _error(exc)
        finally:
            daemon.stop()
            for name in written:
                shutil.rmtree(corpus.root / name, ignore_errors=True)
        return out

    def _live(self, daemon: Daemon, corpus: Corpus, written: list[str]) -> dict[str, Any]:
        args = self.args
        runs = []
        for r in range(args.repeat):
            run = self._live_once(daemon, corpus, r, written)
            runs.append(run)
            d = run["latency_ms"]
            log(
                f"live {r + 1}/{args.repeat}: {run['seen']}/{run['saves']} seen, p50 "
                f"{d.get('p50', float('nan')):.1f} ms, p99 {d.get('p99', float('nan')):.1f} ms, "
                f"max {d.get('max', float('nan')):.1f} ms"
            )
            time.sleep(1.0)
        p50 = spread([r["latency_ms"]["p50"] for r in runs if r["latency_ms"]["n"]] or [math_nan()])
        p99 = spread([r["latency_ms"]["p99"] for r in runs if r["latency_ms"]["n"]] or [math_nan()])
        mx = spread([r["latency_ms"]["max"] for r in runs if r["latency_ms"]["n"]] or [math_nan()])
        pooled = distribution([x for r in runs for x in r["_latencies"]])
        for run in runs:
            del run["_latencies"]
        mem = {**daemon.memory(), **daemon.sampled()}
        return {
            "n": corpus.n,
            "saves": args.live_saves,
            "rate_per_second": args.live_rate,
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": mx,
            "pooled_ms": pooled,
            "not_seen": sum(r["not_seen"] for r in runs),
            "superseded_running": sum(r["superseded"] for r in runs),
            "reader_poll_ms": spread([r["reader"]["poll_ms_mean"] for r in runs]),
            "targets": {"p50_ms": "< 50", "p99_ms": "< 250"},
            "pass": {
                "p50": p50["median"] < 50,
                "p99": p99["median"] < 250,
            },
            "daemon_memory_after": mem,
            "runs": runs,
        }

    def _live_once(
        self, daemon: Daemon, corpus: Corpus, r: int, written: list[str]
    ) -> dict[str, Any]:
        args = self.args
        work = self.run_dir / f"live-{r}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        plan = live_plan(self.templates, args.live_saves)
        written.extend(dict.fromkeys(item["id"] for item in plan))
        plan_file = work / "plan.json"
        plan_file.write_text(json.dumps(plan))
        t0 = time.monotonic() + 2.0
        duration = args.live_saves / args.live_rate
        deadline = t0 + duration + args.live_timeout
        me = str(Path(__file__).resolve())
        common = ["--plan", str(plan_file), "--t0", repr(t0), "--rate", repr(args.live_rate)]
        reader = subprocess.Popen(
            [
                sys.executable,
                me,
                "_live_reader",
                *common,
                "--db",
                str(db_path_of(daemon.home)),
                "--deadline",
                repr(deadline),
                "--out",
                str(work / "reader.json"),
            ]
        )
        writer = subprocess.Popen(
            [
                sys.executable,
                me,
                "_live_writer",
                *common,
                "--root",
                str(corpus.root),
                "--out",
                str(work / "writer.json"),
            ]
        )
        try:
            if writer.wait(timeout=duration + 120) != 0:
                raise RuntimeError("the live writer failed")
            if reader.wait(timeout=max(0.0, deadline - time.monotonic()) + 60) != 0:
                raise RuntimeError("the live reader failed")
        finally:
            for proc in (writer, reader):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        saves = json.loads((work / "writer.json").read_text())
        seen_report = json.loads((work / "reader.json").read_text())
        seen = seen_report["seen"]
        superseded = set(seen_report["superseded"])
        latencies: list[float] = []
        by_kind: dict[str, list[float]] = {}
        not_seen = []
        late_writes = 0
        for save in saves:
            key = f"{save['id']} {save['status']}"
            if save["closed_at"] - save["due"] > 0.02:
                late_writes += 1
            if key in seen:
                latency = (seen[key] - save["closed_at"]) * 1000
                latencies.append(latency)
                by_kind.setdefault(save["kind"], []).append(latency)
            elif key not in superseded:
                not_seen.append(key)
        return {
            "saves": len(saves),
            "seen": len(latencies),
            "not_seen": len(not_seen),
            "not_seen_examples": not_seen[:5],
            "superseded": len(superseded),
            "late_writes": late_writes,
            "write_seconds": saves[-1]["closed_at"] - saves[0]["closed_at"] if saves else 0,
            "latency_ms": distribution(latencies),
            "by_kind_ms": {kind: distribution(v) for kind, v in by_kind.items()},
            "reader": {k: v for k, v in seen_report.items() if k not in ("seen", "superseded")},
            "_latencies": latencies,
        }

    def _burst(self, daemon: Daemon, corpus: Corpus, written: list[str]) -> dict[str, Any]:
        args = self.args
        runs = []
        for r in range(args.repeat):
            if r:
                # Each burst starts from the N-dispatch root: remove the last one
                # with the daemon stopped, then start it again (untimed).
                daemon.stop()
                for name in written:
                    shutil.rmtree(corpus.root / name, ignore_errors=True)
                written.clear()
                daemon.start(timeout=120 + corpus.n * 0.01)
            run = self._burst_once(daemon, corpus, r, written)
            runs.append(run)
            log(
                f"burst {r + 1}/{args.repeat}: {run['indexed']}/{run['n']} indexed, last after "
                f"{run['last_indexed_seconds']}s (writing took {run['write_seconds']:.2f}s), "
                f"lost {run['lost']}"
            )
        done = [r["last_indexed_seconds"] for r in runs if r["last_indexed_seconds"] is not None]
        lost = max(r["lost"] for r in runs)
        return {
            "n": corpus.n,
            "burst_n": args.burst_n,
            "last_indexed_seconds": spread(done) if done else None,
            "write_seconds": spread([r["write_seconds"] for r in runs]),
            "lag_after_writer_seconds": spread(
                [
                    r["lag_after_writer_seconds"]
                    for r in runs
                    if r["lag_after_writer_seconds"] is not None
                ]
                or [math_nan()]
            ),
            "lost": lost,
            "lost_runs": [r["lost"] for r in runs],
            "target": "0 lost",
            "pass": lost == 0,
            "runs": runs,
        }

    def _burst_once(
        self, daemon: Daemon, corpus: Corpus, r: int, written: list[str]
    ) -> dict[str, Any]:
        args = self.args
        work = self.run_dir / f"burst-{r}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        db = db_path_of(daemon.home)
        conn = ro_connect(db)
        try:
            prefix = _burst_prefix(conn)
            low, high = prefix, prefix[:-1] + "."
            count_sql = "SELECT count(*) FROM dispatch WHERE dispatch_id >= ? AND dispatch_id < ?"
            overflow_before = daemon.log_count("overflow")
            rescans_before = daemon.log_count("rescan")
            me = str(Path(__file__).resolve())
            templates = [str(p) for p in self.templates.finished]
            writer = subprocess.Popen(
                [
                    sys.executable,
                    me,
                    "_burst_writer",
                    "--root",
                    str(corpus.root),
                    "--n",
                    str(args.burst_n),
                    "--prefix",
                    prefix,
                    "--templates",
                    json.dumps(templates),
                    "--out",
                    str(work / "writer.json"),
                ]
            )
            spawned = time.monotonic()
            last_at = None
            writer_end = None
            count = 0
            polls = 0
            while True:
                count = conn.execute(count_sql, (low, high)).fetchone()[0]
                now = time.monotonic()
                polls += 1
                if count >= args.burst_n:
                    last_at = now
                    break
                if writer_end is None and writer.poll() is not None:
                    if writer.returncode != 0:
                        raise RuntimeError("the burst writer failed")
                    writer_end = now
                if writer_end is not None and now - writer_end > args.burst_deadline:
                    break
                if now - spawned > args.burst_deadline * 4 + 600:
                    break
                time.sleep(0.02)
            if writer.wait(timeout=600) != 0:
                raise RuntimeError("the burst writer failed")
            report = json.loads((work / "writer.json").read_text())
            written.extend(report["ids"])
            count = conn.execute(count_sql, (low, high)).fetchone()[0]
        finally:
            conn.close()
        status = daemon.status()
        last = None if last_at is None else round(last_at - report["start"], 3)
        return {
            "n": args.burst_n,
            "indexed": count,
            "lost": args.burst_n - count,
            "write_seconds": report["end"] - report["start"],
            "last_indexed_seconds": last,
            "lag_after_writer_seconds": None if last_at is None else last_at - report["end"],
            "writer_dispatches_per_second": args.burst_n / (report["end"] - report["start"]),
            "indexed_per_second": None if last is None else args.burst_n / last,
            "polls": polls,
            "overflow_log_lines": daemon.log_count("overflow") - overflow_before,
            "rescan_log_lines": daemon.log_count("rescan") - rescans_before,
            "degraded": status.get("degraded", []),
            "daemon_memory_after": {**daemon.memory(), **daemon.sampled()},
            "daemon_watches_after": daemon.watches(),
        }

    # -- 5. queries --

    def measure_queries(self) -> dict[str, Any]:
        args = self.args
        home = self.fresh_home("queries")
        t = time.perf_counter()
        ids_sample, db_info = synthesize(home, self.templates, args.queries_n, args.seed)
        synth_seconds = time.perf_counter() - t
        log(f"queries: {args.queries_n:,} rows synthesized in {synth_seconds:.1f}s")
        rng = random.Random(args.seed + 1)
        reps = args.query_reps
        get_ids = [rng.choice(ids_sample) for _ in range(reps)]
        with DispatchIndex(home=home) as index:
            cursors = []
            page = index.list(limit=50)
            while len(cursors) < reps and page.next_cursor:
                cursors.append(page.next_cursor)
                page = index.list(limit=50, cursor=page.next_cursor)
            counts = index.counts()
            if sum(counts.values()) != args.queries_n:
                raise RuntimeError(f"counts add up to {sum(counts.values())}")
            if not cursors:
                raise RuntimeError("the listing has a single page")
            python_ops = python_operations(index, cursors, get_ids)
            python = time_operations(python_ops, reps, args.repeat, args.query_budget)
        conn = ro_connect(db_path_of(home))
        try:
            raw = time_operations(
                sql_operations(conn, cursors, get_ids), reps, args.repeat, args.query_budget
            )
        finally:
            conn.close()
        result: dict[str, Any] = {
            "n": args.queries_n,
            "synthesize_seconds": synth_seconds,
            "counts": counts,
            "database": db_info,
            "repetitions": reps,
            "python": python,
            "raw_sql": raw,
            "targets": {"python_p50_ms": "< 5", "http_p50_ms": "< 15"},
        }
        result["pass_python"] = {op: v["p50_ms"]["median"] < 5 for op, v in python.items()}
        result["http"] = self._http_queries(home, cursors, get_ids)
        if "ops" in result["http"]:
            result["pass_http"] = {
                op: v["p50_ms"]["median"] < 15 for op, v in result["http"]["ops"].items()
            }
        return result

    def _http_queries(self, home: Path, cursors: list[str], get_ids: list[str]) -> dict[str, Any]:
        if importlib.util.find_spec("dispatch_indexer.http") is None:
            note = "dispatch_indexer.http is not there yet: HTTP rows skipped"
            self.notes.append(note)
            return {"skipped": note}
        port = free_port()
        log_file = self.run_dir / "logs" / "serve.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "dispatch_indexer",
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
        ]
        with open(log_file, "ab") as out:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        conn = None
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    tail = log_file.read_text(errors="replace")[-1500:]
                    raise RuntimeError(f"serve exited ({proc.returncode}): {tail}")
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    status, _ = http_get(conn, "/api/v1/stats")
                    if status == 200:
                        break
                except OSError:
                    pass
                if conn is not None:
                    conn.close()
                    conn = None
                if time.monotonic() > deadline:
                    raise RuntimeError("serve did not answer /api/v1/stats within 60s")
                time.sleep(0.1)
            header_ms: dict[str, list[float]] = {}
            ops = http_operations(conn, cursors, get_ids, header_ms)
            timed = time_operations(
                ops, self.args.query_reps, self.args.repeat, self.args.query_budget
            )
            for name, samples in header_ms.items():
                timed[name]["headers_p50_ms"] = percentile(samples, 50)
            stalls = [v["p50_ms"]["median"] - v["headers_p50_ms"] for v in timed.values()]
            if statistics.median(stalls) > 30:
                self.notes.append(
                    "HTTP: on the keep-alive connection the body arrives ~"
                    f"{statistics.median(stalls):.0f} ms after the headers (median over the "
                    "queries): the signature of Nagle's algorithm meeting delayed ACKs, i.e. "
                    "the server's sockets lack TCP_NODELAY"
                )
            return {"command": shlex.join(command[1:]), "ops": timed}
        except Exception as exc:  # noqa: BLE001 - HTTP is optional: a note, not a failure
            note = f"HTTP API not measured: {exc}"
            self.notes.append(note)
            return {"error": note}
        finally:
            if conn is not None:
                conn.close()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # -- extra: ingest on PostgreSQL (only when named in --only) --

    def measure_ingest_pg(self) -> dict[str, Any]:
        """Daemons on one PostgreSQL server vs one on SQLite (ingest_pg.py)."""
        from ingest_pg import measure_ingest_pg

        return measure_ingest_pg(
            workdir=self.run_dir / "ingest-pg",
            fixtures=FIXTURES,
            quick=self.args.quick,
            daemon_class=Daemon,
            log=log,
        )

    # -- 6. footprint --

    def measure_footprint(self) -> dict[str, Any]:
        sizes = self.args.footprint_n or [self.args.n]
        result = {str(n): self._footprint(n) for n in sizes}
        for n in self.args.footprint_synthetic or []:
            result[f"{n}-synthetic"] = self._footprint_synthetic(n)
        return {"sizes": result}

    def _footprint(self, n: int) -> dict[str, Any]:
        corpus = self.corpus(n)
        home = self.fresh_home(f"footprint-{n}")
        with DispatchIndex(home=home) as index:
            index.add_dirs([corpus.root])
            index.config.rescan_interval = self.args.footprint_rescan_interval
            config_mod.save(index.config, index.paths)
        log(f"footprint n={n}: the daemon indexes {n:,} dispatches from nothing")
        return self._footprint_daemon(home, n, f"footprint-{n}")

    def _footprint_synthetic(self, n: int) -> dict[str, Any]:
        """The footprint at a size too big to clone (1,000,000 real clones
        are some 24 GB and an hour to write and index): ``n`` dispatch
        folders whose result.pkl are hard links to one real file, and an
        index whose rows (a real row of that file, with identity and folder
        varied) say every folder was read already. The daemon starts on it,
        rescans (finding nothing changed) and is measured as at N."""
        root = ensure_link_tree(self.workdir, self.templates.finished[0], n)
        home = self.fresh_home(f"footprint-synthetic-{n}")
        log(f"footprint n={n} (synthetic): writing {n:,} index rows")
        started = time.perf_counter()
        synthesize_read(home, root, self.args.footprint_rescan_interval)
        log(f"footprint n={n} (synthetic): rows written in {time.perf_counter() - started:.0f}s")
        result = self._footprint_daemon(home, n, f"footprint-synthetic-{n}")
        result["synthetic"] = (
            "folders hold hard links to one result.pkl; rows synthesized as read; "
            "no stored result.pkl bytes (result_blob empty)"
        )
        return result

    def _footprint_daemon(self, home: Path, n: int, name: str) -> dict[str, Any]:
        args = self.args
        daemon = Daemon(home, self.run_dir / "logs" / f"daemon-{name}.stderr")
        try:
            daemon.start(timeout=300 + n * 0.05)
            after_index = daemon.memory()
            watches_after_index = daemon.watches()
            first = daemon.status().get("last_full_scan") or {}
            log(f"footprint n={n}: indexed in {daemon.ready_seconds:.1f}s; waiting for a rescan")
            deadline = time.monotonic() + args.footprint_rescan_interval + 120 + n * 0.01
            rescan = None
            while time.monotonic() < deadline:
                scan = daemon.status().get("last_full_scan") or {}
                if scan.get("time") != first.get("time") and scan.get("summary") is not None:
                    rescan = scan
                    break
                time.sleep(0.1)
            if rescan is None:
                raise RuntimeError("the daemon did not rescan in time")
            steady = daemon.memory()
            sampled = daemon.sampled()
            watches = daemon.watches()
            status = daemon.status()
            db = db_path_of(home)
            sizes = db_files_size(db)
            conn = ro_connect(db)
            try:
                records = conn.execute("SELECT count(*) FROM dispatch").fetchone()[0]
                tables = table_sizes(conn)
            finally:
                conn.close()
        finally:
            daemon.stop()
        per_record = (sizes["db"] + sizes["wal"]) / max(records, 1)
        log(
            f"footprint n={n}: peak {steady.get('VmHWM', 0) / 2**20:.0f} MB, steady "
            f"{steady.get('VmRSS', 0) / 2**20:.0f} MB, {watches} watches, "
            f"{per_record:,.0f} bytes/record"
        )
        return {
            "n": n,
            "daemon_initial_index_seconds": daemon.ready_seconds,
            "peak_rss_bytes": steady.get("VmHWM"),
            "peak_rss_sum_with_workers_bytes": steady.get("VmHWM_sum_with_children"),
            "steady_rss_with_workers_bytes": steady.get("VmRSS_with_children"),
            "processes": steady.get("processes"),
            **sampled,
            "peak_rss_after_initial_index_bytes": after_index.get("VmHWM"),
            "rss_after_initial_index_bytes": after_index.get("VmRSS"),
            "steady_rss_bytes": steady.get("VmRSS"),
            "inotify_watches": watches,
            "inotify_watches_after_initial_index": watches_after_index,
            "status_watches": status.get("watches"),
            "rescan": rescan,
            "rescan_interval_seconds": args.footprint_rescan_interval,
            "records": records,
            "database_bytes": sizes,
            "database_bytes_per_record": per_record,
            "table_bytes": tables,
        }

    # -- the whole run --

    def run(self) -> dict[str, Any]:
        args = self.args
        started = time.monotonic()
        selected = args.only
        measures: dict[str, Any] = {m: {"status": "not run (--only)"} for m in MEASURES}

        def attempt(name: str, action: Callable[[], dict[str, Any]]) -> None:
            # What the last measure wrote (a 1.3 GB index) goes to disk now,
            # not under the next one's feet.
            os.sync()
            log(f"--- {name} (load average {os.getloadavg()[0]:.2f})")
            load = os.getloadavg()[0]
            t = time.monotonic()
            try:
                value = action()
                measures[name] = {"status": "ok", "load_average_at_start": load, **value}
            except Exception as exc:  # noqa: BLE001 - one broken measure must not hide the rest
                measures[name] = _error(exc)
                log(f"{name} FAILED: {exc}")
            measures[name]["wall_seconds"] = round(time.monotonic() - t, 2)

        if "cold" in selected:
            attempt("cold", self.measure_cold)
        if "rescan" in selected:
            attempt("rescan", self.measure_rescan)
        if "live" in selected or "burst" in selected:
            load = os.getloadavg()[0]
            log(f"--- live/burst (load average {load:.2f})")
            t = time.monotonic()
            try:
                both = self.measure_live_and_burst("live" in selected, "burst" in selected)
            except Exception as exc:  # noqa: BLE001
                both = {m: _error(exc) for m in ("live", "burst") if m in selected}
            for name, value in both.items():
                measures[name] = (
                    value
                    if "status" in value
                    else {"status": "ok", "load_average_at_start": load, **value}
                )
                measures[name]["wall_seconds"] = round(time.monotonic() - t, 2)
        if "queries" in selected:
            attempt("queries", self.measure_queries)
        if "footprint" in selected:
            attempt("footprint", self.measure_footprint)
        if "ingest-pg" in selected:
            attempt("ingest-pg", self.measure_ingest_pg)
        return {
            "measures": measures,
            "corpora": {str(n): c.info for n, c in self.corpora.items()},
            "notes": self.notes,
            "duration_seconds": round(time.monotonic() - started, 1),
        }


def math_nan() -> float:
    return float("nan")


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "status": "error",
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": traceback.format_exc(),
    }


def _short(file: str) -> str:
    for marker in ("dispatch_indexer/", "site-packages/", "lib/python"):
        if marker in file:
            return file[file.index(marker) :]
    return file


def _burst_prefix(conn: sqlite3.Connection) -> str:
    """A fresh 8-hex-digit uuid prefix no indexed dispatch has: the burst's
    dispatches are counted with one index range scan."""
    while True:
        prefix = uuid.uuid4().hex[:8] + "-"
        row = conn.execute(
            "SELECT count(*) FROM dispatch WHERE dispatch_id >= ? AND dispatch_id < ?",
            (prefix, prefix[:-1] + "."),
        ).fetchone()
        if row[0] == 0:
            return prefix


def table_sizes(conn: sqlite3.Connection) -> dict[str, int] | None:
    """Bytes per table and index (dbstat), if this SQLite has it."""
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error:
        return None
    return {name: size for name, size in sorted(rows, key=lambda r: -r[1])}


# ---- live: the plan, the writer, the reader ----------------------------------------


def live_plan(templates: Templates, saves: int) -> list[dict[str, Any]]:
    """``saves`` saves: new finished dispatches, new RUNNING ones, and those
    completed in place LIVE_GAP saves later (about 3:1:1)."""
    plan: list[dict[str, Any]] = []
    completions: dict[int, str] = {}
    finished = templates.finished
    index = 0
    for slot in range(saves):
        if slot % 5 == 0 and slot + LIVE_GAP < saves:
            dispatch_id = str(uuid.uuid4())
            completions[slot + LIVE_GAP] = dispatch_id
            folder = templates.running
            kind = "running"
        elif slot in completions:
            dispatch_id = completions.pop(slot)
            folder = templates.running_final
            kind = "complete"
        else:
            dispatch_id = str(uuid.uuid4())
            folder = finished[index % len(finished)]
            index += 1
            kind = "finished"
        assert folder is not None
        plan.append(
            {
                "slot": slot,
                "kind": kind,
                "id": dispatch_id,
                "template": str(folder),
                "status": templates.status(folder),
            }
        )
    return plan


def live_writer(args: argparse.Namespace) -> None:
    """Save each planned dispatch at its time, as Covalent does (in place),
    recording when result.pkl was closed."""
    plan = json.loads(Path(args.plan).read_text())
    root = Path(args.root)
    cache: dict[str, tuple[str, dict[str, bytes]]] = {}
    prepared = []
    for item in plan:
        if item["template"] not in cache:
            cache[item["template"]] = read_template(item["template"])
        _, files = with_new_id(cache[item["template"]], item["id"])
        prepared.append((item, files))
    saves = []
    for item, files in prepared:
        due = args.t0 + item["slot"] / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        folder = root / item["id"]
        if item["kind"] != "complete":
            folder.mkdir()
        write_in_place(folder / RESULT_FILE, files[RESULT_FILE])
        closed_at = time.monotonic()
        rest = sorted(n for n in files if n != RESULT_FILE)
        if item["kind"] != "finished":
            rest = [n for n in rest if n == "result_info.yaml"]
        for name in rest:
            write_in_place(folder / name, files[name])
        saves.append(
            {
                "slot": item["slot"],
                "kind": item["kind"],
                "id": item["id"],
                "status": item["status"],
                "due": due,
                "closed_at": closed_at,
            }
        )
    Path(args.out).write_text(json.dumps(saves))


def live_reader(args: argparse.Namespace) -> None:
    """Poll the index (read-only, its own connection) for each planned
    (id, status) from its due time; record when each is first visible."""
    plan = json.loads(Path(args.plan).read_text())
    conn = ro_connect(Path(args.db))
    query = "SELECT status FROM dispatch WHERE dispatch_id=?"
    items = sorted(
        ((args.t0 + p["slot"] / args.rate, p["id"], p["status"]) for p in plan),
        key=lambda item: item[0],
    )
    seen: dict[str, float] = {}
    superseded: list[str] = []
    active: list[tuple[float, str, str]] = []
    nxt = 0
    polls = 0
    first_poll = None
    while (active or nxt < len(items)) and time.monotonic() < args.deadline:
        now = time.monotonic()
        while nxt < len(items) and items[nxt][0] <= now:
            active.append(items[nxt])
            nxt += 1
        if not active:
            time.sleep(min(0.0005, max(0.0, items[nxt][0] - now)))
            continue
        if first_poll is None:
            first_poll = now
        still = []
        for item in active:
            row = conn.execute(query, (item[1],)).fetchone()
            at = time.monotonic()
            status = row[0] if row else None
            key = f"{item[1]} {item[2]}"
            if status == item[2]:
                seen[key] = at
            elif item[2] not in FINAL_STATUSES and status in FINAL_STATUSES:
                superseded.append(key)  # the RUNNING state came and went unseen
            else:
                still.append(item)
        active = still
        polls += 1
        time.sleep(0.0005)
    elapsed = time.monotonic() - (first_poll or time.monotonic())
    Path(args.out).write_text(
        json.dumps(
            {
                "seen": seen,
                "superseded": superseded,
                "polls": polls,
                "poll_ms_mean": elapsed / max(polls, 1) * 1000,
                "unresolved_at_deadline": len(active) + len(items) - nxt,
            }
        )
    )


def burst_writer(args: argparse.Namespace) -> None:
    """Write ``n`` new finished dispatches as fast as one process can."""
    templates = [read_template(p) for p in json.loads(args.templates)]
    root = Path(args.root)
    ids = []
    start = time.monotonic()
    for i in range(args.n):
        dispatch_id, files = with_new_id(
            templates[i % len(templates)], args.prefix + str(uuid.uuid4())[9:]
        )
        write_dispatch(root, dispatch_id, files)
        ids.append(dispatch_id)
    end = time.monotonic()
    Path(args.out).write_text(json.dumps({"start": start, "end": end, "ids": ids}))


# ---- queries: synthesized rows, and the operations timed --------------------------


LATTICE_WORDS = (
    "train",
    "evaluate",
    "preprocess",
    "featurize",
    "simulate",
    "optimize",
    "sweep",
    "ingest",
    "calibrate",
    "fit",
    "sample",
    "relax",
    "screen",
    "dock",
    "anneal",
)
LATTICE_SUBJECTS = (
    "model",
    "molecule",
    "portfolio",
    "circuit",
    "lattice",
    "dataset",
    "grid",
    "qubits",
    "spectrum",
    "surface",
    "ensemble",
    "pipeline",
)
STATUS_WEIGHTS = (
    ("COMPLETED", 0.887),
    ("FAILED", 0.08),
    ("RUNNING", 0.03),
    ("CANCELLED", 0.002),
    ("NEW_OBJECT", 0.001),
)
RARE_STATUS = "CANCELLED"


LINKS_PER_FILE = 60_000


def ensure_link_tree(workdir: Path, template: Path, n: int) -> Path:
    """``n`` dispatch folders under ``<workdir>/linktree/n<N>/results``, each
    holding a hard link to a copy of ``template``'s result.pkl (a copy per
    LINKS_PER_FILE folders: ext4 allows 65,000 links to a file); built once."""
    folder = workdir / "linktree" / f"n{n}"
    root = folder / "results"
    done = folder / "complete"
    if done.exists() and done.read_text().strip() == str(n):
        log(f"link tree n={n}: reusing {root}")
        return root
    log(f"link tree n={n}: building {root}")
    shutil.rmtree(folder, ignore_errors=True)
    root.mkdir(parents=True)
    rng = random.Random(n)
    started = time.perf_counter()
    source = folder / "result-0.pkl"
    for i in range(n):
        if i % LINKS_PER_FILE == 0:
            source = folder / f"result-{i // LINKS_PER_FILE}.pkl"
            shutil.copyfile(template / RESULT_FILE, source)
        name = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        os.mkdir(root / name)
        os.link(source, root / name / RESULT_FILE)
        if (i + 1) % max(1, n // 10) == 0:
            log(f"link tree n={n}: {i + 1:,} folders")
    done.write_text(f"{n}\n")
    log(f"link tree n={n}: built in {time.perf_counter() - started:.0f}s")
    return root


def synthesize_read(home: Path, root: Path, rescan_interval: float) -> None:
    """An index on ``root`` (see ``ensure_link_tree``) whose dispatch and
    location rows say every folder there was read: copies of the rows the
    indexer writes for one of them, with the id and folder varied."""
    names = sorted(os.listdir(root))
    with DispatchIndex(home=home) as index:
        index.add_dirs([root])
        index.config.rescan_interval = rescan_interval
        config_mod.save(index.config, index.paths)
        index.store.apply([read_dispatch(root / names[0], root=str(root))])
        rows = {}
        for model in (index.tables.Dispatch, index.tables.Location):
            table = model._meta.table_name
            cursor = index.database.execute_sql(f'SELECT * FROM "{table}"')
            columns = [c[0] for c in cursor.description]
            rows[table] = (columns, dict(zip(columns, cursor.fetchone(), strict=True)))
        for model in (index.tables.ResultBlob, index.tables.Location, index.tables.Dispatch):
            model.delete().execute()
        db = sqlite_path(index.url)
    loads = []
    for table, (columns, template) in rows.items():

        def varied(
            template: dict[str, Any] = template, columns: list[str] = columns
        ) -> Iterator[tuple[Any, ...]]:
            for name in names:
                path = f"{root}/{name}"
                st = os.stat(f"{path}/{RESULT_FILE}")
                row = dict(
                    template,
                    dispatch_id=name,
                    path=path,
                    size=st.st_size,
                    mtime_ns=st.st_mtime_ns,
                    inode=st.st_ino,
                )
                yield tuple(row[c] for c in columns)

        loads.append((table, columns, varied()))
    bulk_load(home, db, loads)


def bulk_load(
    home: Path, db: Path, loads: list[tuple[str, list[str], Iterable[tuple[Any, ...]]]]
) -> None:
    """Insert rows around the store (sqlite3's executemany, in one
    transaction), then fold the log of count changes their triggers made,
    as the store's own writes do as they go (counters), and checkpoint."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        # Only the loading connection: a big cache, no fsync. The rows are the same.
        conn.execute("PRAGMA cache_size = -1048576")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        for table, columns, rows in loads:
            placeholders = ", ".join("?" for _ in columns)
            sql = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({placeholders})'
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
    with DispatchIndex(home=home) as index:
        index.store.compact_counts()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def synthesize(
    home: Path, templates: Templates, n: int, seed: int
) -> tuple[list[str], dict[str, Any]]:
    """A fresh index whose dispatch table holds ``n`` realistic rows, inserted
    with sqlite3's executemany. Rows are shaped like real ones: each is a copy
    of the row the indexer itself wrote for a fixture dispatch, with the
    identity, status, names, folders and times varied."""
    rows_by_status: dict[str, list[dict[str, Any]]] = {}
    with DispatchIndex(home=home) as index:
        folders = [*templates.finished, templates.running]
        if templates.new_object is not None:
            folders.append(templates.new_object)
        for folder in folders:
            assert folder is not None
            outcome = read_dispatch(folder, root=str(folder.parent))
            index.store.apply([outcome])
            cursor = index.database.execute_sql(
                "SELECT * FROM dispatch WHERE dispatch_id = ?", (outcome.record.dispatch_id,)
            )
            names = [c[0] for c in cursor.description]
            row = dict(zip(names, cursor.fetchone(), strict=True))
            rows_by_status.setdefault(row["status"], []).append(row)
            for model in (index.tables.ResultBlob, index.tables.Location, index.tables.Dispatch):
                model.delete().execute()
        table = index.tables.Dispatch._meta.table_name
        db = sqlite_path(index.url)
    rows_by_status.setdefault(RARE_STATUS, [dict(r) for r in rows_by_status["COMPLETED"]])
    columns = list(rows_by_status["COMPLETED"][0])
    sample_time = rows_by_status["COMPLETED"][0]["sort_time"]
    sep = "T" if isinstance(sample_time, str) and "T" in sample_time else " "

    def stamp(seconds: float) -> str:
        moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)
        return moment.isoformat(sep=sep, timespec="microseconds")

    rng = random.Random(seed)
    statuses = [s for s, _ in STATUS_WEIGHTS]
    weights = [w for _, w in STATUS_WEIGHTS]
    lattices = [f"{w}_{s}" for w in LATTICE_WORDS for s in LATTICE_SUBJECTS]
    lattice_weights = [1 / (k + 1) for k in range(len(lattices))]  # Zipf-like
    dirs = [
        f"/home/{user}/{project}/results"
        for user in ("ada", "bo", "chen", "dee")
        for project in (
            "qml",
            "chem",
            "finance",
            "sweeps",
            "scratch",
            "paper-2026",
            "demo",
            "hpc",
            "nightly",
            "tutorials",
        )
    ]
    now = time.time()
    year = 365 * 86400
    sample: list[str] = []
    sample_every = max(1, n // 5000)
    # Inserted in id order so that loading a million rows stays quick; every
    # other column (times, status, names) is random with respect to it.
    ids = sorted(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n))

    def rows() -> Iterator[tuple[Any, ...]]:
        status_draws = rng.choices(statuses, weights, k=n)
        lattice_draws = rng.choices(lattices, lattice_weights, k=n)
        for i in range(n):
            status = status_draws[i]
            base = rng.choice(rows_by_status.get(status) or rows_by_status["COMPLETED"])
            row = dict(base)
            dispatch_id = ids[i]
            if i % sample_every == 0:
                sample.append(dispatch_id)
            results_dir = dirs[i % len(dirs)]
            start = now - rng.random() * year
            unfinished = status in ("RUNNING", "NEW_OBJECT")
            end = None if unfinished else start + rng.lognormvariate(4, 1.5)
            written = end or start
            row.update(
                dispatch_id=dispatch_id,
                status=status,
                lattice_name=lattice_draws[i],
                start_time=None if status == "NEW_OBJECT" else stamp(start),
                end_time=None if end is None else stamp(end),
                path=f"{results_dir}/{dispatch_id}",
                results_dir=results_dir,
                root=results_dir,
                size=rng.randint(4000, 15000),
                mtime_ns=int(written * 1e9),
                inode=rng.getrandbits(31),
                sha256=f"{rng.getrandbits(256):064x}",
                missing=1 if rng.random() < 0.003 else 0,
                first_seen=stamp(start + 0.5),
                updated_at=stamp(written + 0.05),
                last_event=stamp(written),
                read_at=stamp(written + 0.05),
                sort_time=stamp(start),
            )
            if status == RARE_STATUS:
                row["error"] = None
            yield tuple(row.get(c) for c in columns)

    bulk_load(home, db, [(table, columns, rows())])
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        tables = table_sizes(conn)
    finally:
        conn.close()
    sizes = db_files_size(db)
    info = {
        "bytes": sizes,
        "bytes_per_record": (sizes["db"] + sizes["wal"]) / n,
        "table_bytes": tables,
        "note": "dispatch rows only (no stored result.pkl bytes, no location rows)",
    }
    return sample, info


def python_operations(
    index: DispatchIndex, cursors: list[str], get_ids: list[str]
) -> dict[str, Callable[[int], Any]]:
    return {
        "newest 50": lambda i: index.list(limit=50),
        "newest 50, status=FAILED": lambda i: index.list(status="FAILED", limit=50),
        f"newest 50, status={RARE_STATUS} (rare)": lambda i: index.list(
            status=RARE_STATUS, limit=50
        ),
        "next page by cursor": lambda i: index.list(limit=50, cursor=cursors[i % len(cursors)]),
        "counts by status": lambda i: index.counts(),
        "get by id": lambda i: index.get(get_ids[i % len(get_ids)]),
    }


def sql_operations(
    conn: sqlite3.Connection, cursors: list[str], get_ids: list[str]
) -> dict[str, Callable[[int], Any]]:
    """The same questions in plain SQL through sqlite3: the floor under the API."""
    order = "ORDER BY sort_time DESC, dispatch_id DESC LIMIT 51"
    keys = []
    for text in cursors:
        cursor = Cursor.decode(text)
        when = cursor.sort_time.astimezone(dt.timezone.utc).replace(tzinfo=None)
        keys.append((when.isoformat(sep=" ", timespec="microseconds"), cursor.dispatch_id))

    def page(i: int) -> list[Any]:
        when, dispatch_id = keys[i % len(keys)]
        return conn.execute(
            "SELECT * FROM dispatch WHERE sort_time < ? OR (sort_time = ? AND dispatch_id < ?) "
            + order,
            (when, when, dispatch_id),
        ).fetchall()

    return {
        "newest 50": lambda i: conn.execute(f"SELECT * FROM dispatch {order}").fetchall(),
        "newest 50, status=FAILED": lambda i: conn.execute(
            f"SELECT * FROM dispatch WHERE status IN (?) {order}", ("FAILED",)
        ).fetchall(),
        f"newest 50, status={RARE_STATUS} (rare)": lambda i: conn.execute(
            f"SELECT * FROM dispatch WHERE status IN (?) {order}", (RARE_STATUS,)
        ).fetchall(),
        "next page by cursor": page,
        "counts by status": lambda i: conn.execute(
            "SELECT status, count(dispatch_id) FROM dispatch GROUP BY status"
        ).fetchall(),
        "get by id": lambda i: conn.execute(
            "SELECT * FROM dispatch WHERE dispatch_id = ?", (get_ids[i % len(get_ids)],)
        ).fetchone(),
    }


def http_get(conn: http.client.HTTPConnection, url: str) -> tuple[int, bytes]:
    conn.request("GET", url, headers={"Accept": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def http_operations(
    conn: http.client.HTTPConnection,
    cursors: list[str],
    get_ids: list[str],
    header_ms: dict[str, list[float]],
) -> dict[str, Callable[[int], Any]]:
    """The same questions through the HTTP API on one keep-alive connection;
    ``header_ms`` gets how long each response took to its headers."""

    def get(name: str, url: str) -> bytes:
        started = time.perf_counter()
        conn.request("GET", url, headers={"Accept": "application/json"})
        response = conn.getresponse()
        header_ms.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {response.status}: {body[:200]!r}")
        return body

    base = "/api/v1/dispatches"
    quote = urllib.parse.quote
    rare = f"newest 50, status={RARE_STATUS} (rare)"
    return {
        "newest 50": lambda i: get("newest 50", f"{base}?limit=50"),
        "newest 50, status=FAILED": lambda i: get(
            "newest 50, status=FAILED", f"{base}?status=FAILED&limit=50"
        ),
        rare: lambda i: get(rare, f"{base}?status={RARE_STATUS}&limit=50"),
        "next page by cursor": lambda i: get(
            "next page by cursor", f"{base}?limit=50&cursor={quote(cursors[i % len(cursors)])}"
        ),
        "counts by status": lambda i: get("counts by status", "/api/v1/stats"),
        "get by id": lambda i: get("get by id", f"{base}/{quote(get_ids[i % len(get_ids)])}"),
    }


def time_operations(
    ops: dict[str, Callable[[int], Any]], reps: int, repeat: int, budget: float
) -> dict[str, Any]:
    """p50/p99 of each operation over ``reps`` calls, ``repeat`` times; a run of
    one operation stops early once it has taken ``budget`` seconds (and has at
    least 10 samples), so that a slow one cannot take the whole hour."""
    per_run: dict[str, list[dict[str, Any]]] = {name: [] for name in ops}
    pooled: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(repeat):
        for name, op in ops.items():
            for i in range(min(2, reps)):
                op(i)  # warm up
            samples: list[float] = []
            started = time.perf_counter()
            for i in range(reps):
                t = time.perf_counter()
                op(i)
                samples.append((time.perf_counter() - t) * 1000)
                if len(samples) >= 10 and time.perf_counter() - started > budget:
                    break
            per_run[name].append(distribution(samples))
            pooled[name].extend(samples)
    return {
        name: {
            "p50_ms": spread([d["p50"] for d in runs]),
            "p99_ms": spread([d["p99"] for d in runs]),
            "samples_per_run": [d["n"] for d in runs],
            "pooled_ms": distribution(pooled[name]),
        }
        for name, runs in per_run.items()
    }


# ---- the table ------------------------------------------------------------------


def fmt_seconds(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def fmt_ms(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    if value < 10:
        return f"{value:.2f} ms"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def fmt_spread(s: dict[str, Any], fmt: Callable[[float], str]) -> str:
    if len(s["runs"]) <= 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} [{fmt(s['min'])}..{fmt(s['max'])}]"


def verdict(ok: bool | None) -> str:
    return "info" if ok is None else ("PASS" if ok else "FAIL")


def table_rows(measures: dict[str, Any], n: int) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []

    def add(
        measure: str,
        value: str,
        baseline: str = "-",
        ratio: str = "-",
        target: str = "-",
        result: str = "info",
    ) -> None:
        rows.append(
            {
                "measure": measure,
                "value": value,
                "baseline": baseline,
                "ratio": ratio,
                "target": target,
                "result": result,
            }
        )

    for name in MEASURES:
        m = measures.get(name, {})
        if m.get("status") != "ok":
            add(name, m.get("status", "missing"), result=m.get("error", "")[:60] or "-")
            continue
        if name == "cold":
            add(
                f"cold build, N={m['n']:,}",
                fmt_spread(m["seconds"], fmt_seconds),
                f"bare walk {fmt_seconds(m['bare_walk_seconds']['median'])}",
                f"{m['ratio_to_bare_walk']:.1f}x",
                "<= 6x",
                verdict(m["pass"]),
            )
            if m.get("listed_seconds"):
                add(
                    f"cold build: all listed with status, N={m['n']:,}",
                    fmt_spread(m["listed_seconds"], fmt_seconds),
                    f"bare walk {fmt_seconds(m['bare_walk_seconds']['median'])}",
                    f"{m['listed_ratio_to_bare_walk']:.1f}x",
                    "<= 6x",
                    verdict(m["listed_ratio_to_bare_walk"] <= 6),
                )
            add(
                f"cold build vs parse floor, N={m['n']:,}",
                f"{m['per_dispatch_ms']:.2f} ms/dispatch",
                f"parse floor {fmt_spread(m['parse_floor_seconds'], fmt_seconds)}",
                f"{m['ratio_to_parse_floor']:.2f}x",
            )
        elif name == "rescan":
            add(
                f"rescan, nothing changed, N={m['n']:,}",
                fmt_spread(m["seconds"], fmt_seconds),
                f"bare walk {fmt_seconds(m['bare_walk_seconds']['median'])}",
                f"{m['ratio_to_bare_walk']:.2f}x",
                "<= 1.5x",
                verdict(m["pass"]),
            )
        elif name == "live":
            poll = f"reader poll {m['reader_poll_ms']['median']:.2f} ms"
            label = f"live latency ({m['saves']} saves at {m['rate_per_second']:g}/s, N={m['n']:,})"
            add(
                f"{label} p50",
                fmt_spread(m["p50_ms"], fmt_ms),
                poll,
                "-",
                "< 50 ms",
                verdict(m["pass"]["p50"]),
            )
            add(
                f"{label} p99",
                fmt_spread(m["p99_ms"], fmt_ms),
                "-",
                "-",
                "< 250 ms",
                verdict(m["pass"]["p99"]),
            )
            add(f"{label} max", fmt_spread(m["max_ms"], fmt_ms))
            add(
                "live: saves never seen (RUNNING superseded)",
                f"{m['not_seen']} ({m['superseded_running']})",
                "-",
                "-",
                "0",
                verdict(m["not_seen"] == 0),
            )
        elif name == "burst":
            last = m["last_indexed_seconds"]
            write = m["write_seconds"]
            add(
                f"burst of {m['burst_n']:,}: last indexed after",
                fmt_spread(last, fmt_seconds) if last else "never",
                f"writing took {fmt_seconds(write['median'])}",
                f"{last['median'] / write['median']:.1f}x" if last else "-",
            )
            add(
                f"burst of {m['burst_n']:,}: lost",
                str(m["lost"]),
                "-",
                "-",
                "0",
                verdict(m["pass"]),
            )
        elif name == "queries":
            for op, v in m["python"].items():
                raw = m["raw_sql"][op]["p50_ms"]["median"]
                add(
                    f"Python {op} @ {m['n']:,}",
                    f"{fmt_ms(v['p50_ms']['median'])} (p99 {fmt_ms(v['p99_ms']['median'])})",
                    f"raw SQL {fmt_ms(raw)}",
                    f"{v['p50_ms']['median'] / raw:.1f}x",
                    "p50 < 5 ms",
                    verdict(v["p50_ms"]["median"] < 5),
                )
            http_part = m.get("http", {})
            if "ops" in http_part:
                for op, v in http_part["ops"].items():
                    py = m["python"][op]["p50_ms"]["median"]
                    add(
                        f"HTTP {op} @ {m['n']:,}",
                        f"{fmt_ms(v['p50_ms']['median'])} (p99 {fmt_ms(v['p99_ms']['median'])})",
                        f"Python {fmt_ms(py)}",
                        f"{v['p50_ms']['median'] / py:.1f}x",
                        "p50 < 15 ms",
                        verdict(v["p50_ms"]["median"] < 15),
                    )
            else:
                add(
                    "HTTP API",
                    "skipped",
                    result=(http_part.get("skipped") or http_part.get("error", ""))[:60],
                )
        elif name == "footprint":
            for size, f in m["sizes"].items():
                n_text = f"N={int(size.split('-')[0]):,}" + (
                    " synthetic" if size.endswith("-synthetic") else ""
                )
                procs = f.get("sampled_max_processes") or 1
                sampled = f.get("sampled_peak_rss_with_workers_bytes") or 0
                add(
                    f"daemon peak RSS (VmHWM), {n_text}",
                    f"{(f['peak_rss_bytes'] or 0) / 2**20:.0f} MB",
                    f"with reader workers {sampled / 2**20:.0f} MB (sampled, {procs} procs)",
                )
                steady = f["steady_rss_bytes"] or 0
                add(
                    f"daemon steady RSS after a rescan, {n_text}",
                    f"{steady / 2**20:.0f} MB",
                    f"with workers {(f['steady_rss_with_workers_bytes'] or 0) / 2**20:.0f} MB"
                    if (f.get("processes") or 1) > 1
                    else "-",
                    target="< 150 MB",
                    result=verdict(steady < 150 * 2**20),
                )
                add(f"daemon inotify watches, {n_text}", str(f["inotify_watches"]))
                add(
                    f"database bytes per record (file + wal), {n_text}",
                    f"{f['database_bytes_per_record']:,.0f} B",
                )
    ingest = measures.get("ingest-pg")
    if ingest is not None and ingest.get("status") == "ok":
        from ingest_pg import table_rows as ingest_rows

        for measure, value, baseline in ingest_rows(ingest):
            add(measure, value, baseline)
    elif ingest is not None and ingest.get("status") == "error":
        add("ingest-pg", "error", result=ingest.get("error", "")[:60])
    return rows


COLUMNS = ("measure", "value", "baseline", "ratio", "target", "result")


def text_table(rows: list[dict[str, str]]) -> str:
    header = {c: ("pass/fail" if c == "result" else c) for c in COLUMNS}
    widths = {c: max(len(header[c]), *(len(r[c]) for r in rows)) for c in COLUMNS}
    lines = [" | ".join(header[c].ljust(widths[c]) for c in COLUMNS)]
    lines.append("-+-".join("-" * widths[c] for c in COLUMNS))
    lines += [" | ".join(r[c].ljust(widths[c]) for c in COLUMNS) for r in rows]
    return "\n".join(lines)


def markdown_table(rows: list[dict[str, str]]) -> str:
    lines = [
        "| measure | value | baseline | ratio | target | pass/fail |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r[c].replace("|", "\\|") for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="The covalent-indexer benchmark: every measure beside its baseline.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (N=300, queries 5,000, 50 live saves, burst 300): "
        "checks the bench works, in well under a minute",
    )
    parser.add_argument("--n", type=int, help="dispatches on disk (default 100000)")
    parser.add_argument("--queries-n", type=int, help="rows for the queries (default 1000000)")
    parser.add_argument("--repeat", type=int, help="runs of each measure (default 3)")
    parser.add_argument(
        "--footprint-n",
        type=str,
        default=None,
        help="dispatch counts for the footprint, comma separated (default: N)",
    )
    parser.add_argument(
        "--footprint-synthetic",
        type=str,
        default=None,
        help="also the footprint at these counts on hard-linked folders and synthesized "
        "rows, comma separated (e.g. 1000000)",
    )
    parser.add_argument("--live-saves", type=int, help="saves in the live measure (1000)")
    parser.add_argument("--live-rate", type=float, help="saves per second (50)")
    parser.add_argument("--burst-n", type=int, help="dispatches in the burst (20000)")
    parser.add_argument("--query-reps", type=int, help="calls per query and run (200)")
    parser.add_argument(
        "--query-budget",
        type=float,
        help="seconds one query may take per run before it stops at >= 10 calls (15)",
    )
    parser.add_argument(
        "--burst-deadline", type=float, help="seconds to wait after the burst writer ends (600)"
    )
    parser.add_argument(
        "--live-timeout", type=float, help="seconds the reader waits after the last save (60)"
    )
    parser.add_argument(
        "--footprint-rescan-interval",
        type=float,
        help="the footprint daemon's rescan_interval, so a rescan comes soon (10)",
    )
    parser.add_argument(
        "--heavy-every",
        type=int,
        default=5000,
        help="one clone in this many is the 3 MB/12 MB 'heavy' dispatch (0: never; default 5000)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=REPO / "bench-work",
        help="every file the bench makes goes here (default: <repo>/bench-work)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        dest="json_out",
        help="also write the figures here (always: <workdir>/bench-results.json)",
    )
    parser.add_argument(
        "--only",
        type=str,
        default=",".join(MEASURES),
        help=f"measures to run, comma separated: {','.join(MEASURES)} "
        f"(default: all of these), and {','.join(EXTRA_MEASURES)}",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one cold build with cProfile (top costs in the JSON)",
    )
    parser.add_argument(
        "--snapshot-code",
        action="store_true",
        help="run a frozen copy of dispatch_indexer (copied into the workdir "
        "at the start) so that edits made during a long run do not leak in",
    )
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = [m for m in only if m not in MEASURES + EXTRA_MEASURES]
    if unknown:
        parser.error(
            f"unknown measure(s) {', '.join(unknown)}; "
            f"choose from {', '.join(MEASURES + EXTRA_MEASURES)}"
        )
    args.only = only
    args.footprint_synthetic = (
        [int(x) for x in args.footprint_synthetic.split(",") if x.strip()]
        if args.footprint_synthetic
        else None
    )
    args.footprint_n = (
        [int(x) for x in args.footprint_n.split(",") if x.strip()] if args.footprint_n else None
    )
    if args.repeat < 1 or args.n < 1 or args.queries_n < 100 or args.burst_n < 1:
        parser.error("--repeat and --n must be >= 1, --queries-n >= 100, --burst-n >= 1")
    args.workdir = args.workdir.expanduser().resolve()
    if args.json_out is not None:
        args.json_out = args.json_out.expanduser().resolve()
    return args


def snapshot_and_reexec(args: argparse.Namespace, argv: list[str]) -> None:
    """Copy dispatch_indexer into the workdir and run again from there, with
    it first on PYTHONPATH and the workdir as the current folder (so that
    ``python -m dispatch_indexer`` children import the copy too)."""
    if os.environ.get("BENCH_CODE_SNAPSHOT"):
        os.chdir(args.workdir)
        return
    import dispatch_indexer

    source = Path(dispatch_indexer.__file__).resolve().parent
    target = args.workdir / "code"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        source, target / "dispatch_indexer", ignore=shutil.ignore_patterns("__pycache__")
    )
    os.environ["BENCH_CODE_SNAPSHOT"] = str(target)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p
    )
    os.environ["BENCH_ORIGINAL_ARGV"] = json.dumps(argv)
    os.chdir(args.workdir)
    log(f"running a snapshot of {source} from {target}")
    absolute = [*argv, "--workdir", str(args.workdir)]
    if args.json_out is not None:
        absolute += ["--json", str(args.json_out)]
    os.execv(sys.executable, [sys.executable, str(Path(__file__).resolve()), *absolute])


def original_argv(argv: list[str]) -> list[str]:
    """The arguments as given (before a --snapshot-code re-exec added some)."""
    given = os.environ.get("BENCH_ORIGINAL_ARGV")
    return json.loads(given) if given else argv


def isolate(workdir: Path) -> None:
    """Point every place the indexer (or anything) might write inside workdir."""
    user = workdir / "user-home"
    user.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(user)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        os.environ[var] = str(user / var.lower())
    os.environ["COVALENT_INDEXER_HOME"] = str(workdir / "run" / "default-home")
    os.environ["COVALENT_CONFIG_DIR"] = str(user / "covalent")
    for var in ("COVALENT_INDEXER_DB", "COVALENT_INDEXER_TOKEN"):
        os.environ.pop(var, None)


def main(argv: list[str]) -> int:
    if argv and argv[0].startswith("_"):
        return worker(argv)
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.snapshot_code:
        snapshot_and_reexec(args, argv)
    isolate(args.workdir)
    shutil.rmtree(args.workdir / "run", ignore_errors=True)
    info = machine(args.workdir)
    log(f"machine: {info['line']}")
    log(f"workdir: {args.workdir}")
    code_before = code_fingerprint()
    load_before = os.getloadavg()
    bench = Bench(args)
    outcome = bench.run()
    code_after = code_fingerprint()
    if code_after["sha256"] != code_before["sha256"]:
        outcome["notes"].append(
            f"the library's sources changed during the run (newest: {code_after['newest_file']}"
            f" at {code_after['newest_mtime']}): child processes started late may run newer code"
        )
    measures = outcome["measures"]
    rows = table_rows(measures, args.n)
    config = {k: v for k, v in vars(args).items() if k not in ("workdir", "json_out")}
    report = {
        "bench_version": 1,
        "command": shlex.join(["scripts/bench", *original_argv(argv)]),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "workdir": str(args.workdir),
        "machine": info,
        "code": {"before": code_before, "after": code_after},
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "config": config,
        **outcome,
        "table": rows,
    }
    text = json.dumps(report, indent=1, default=str)
    (args.workdir / "bench-results.json").write_text(text)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text)
    (args.workdir / "bench-results.md").write_text(
        f"Machine: {info['line']}\n\n{markdown_table(rows)}\n"
    )
    print(f"machine: {info['line']}")
    print(f"command: {report['command']}  ({outcome['duration_seconds']}s)")
    print(
        "load average (1 min) before/after: "
        f"{load_before[0]:.2f}/{report['load_average']['after'][0]:.2f}"
    )
    print(text_table(rows))
    for note in outcome["notes"]:
        print(f"note: {note}")
    errors = [m for m in args.only if measures[m].get("status") == "error"]
    for name in errors:
        print(f"error in {name}: {measures[name]['error']}", file=sys.stderr)
    print(f"figures: {args.workdir / 'bench-results.json'}")
    return 1 if errors else 0


def worker(argv: list[str]) -> int:
    """The writer and reader processes of the live and burst measures."""
    parser = argparse.ArgumentParser(prog="bench worker")
    parser.add_argument("role", choices=["_live_writer", "_live_reader", "_burst_writer"])
    parser.add_argument("--plan")
    parser.add_argument("--t0", type=float)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--root")
    parser.add_argument("--db")
    parser.add_argument("--deadline", type=float)
    parser.add_argument("--n", type=int)
    parser.add_argument("--prefix")
    parser.add_argument("--templates")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    {"_live_writer": live_writer, "_live_reader": live_reader, "_burst_writer": burst_writer}[
        args.role
    ](args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
