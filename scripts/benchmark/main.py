"""The bench's main: options, the workdir made the only place it writes,
the measures run, the report written; and the helper processes' entry."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import dispatch_indexer

from . import burst, live, soak_writer
from .common import PACKAGE, log
from .machine import code_fingerprint, machine
from .options import parse_args
from .report import show, table_rows, write
from .run import run
from .session import Session


def snapshot_and_reexec(args: argparse.Namespace, argv: list[str]) -> None:
    """Copy dispatch_indexer into the workdir and run again from there, with
    it first on PYTHONPATH and the workdir as the current folder (so that
    ``python -m dispatch_indexer`` children import the copy too)."""
    if os.environ.get("BENCH_CODE_SNAPSHOT"):
        os.chdir(args.workdir)
        return
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
    os.execv(sys.executable, [sys.executable, str(PACKAGE), *absolute])


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
    outcome = run(Session(args))
    code_after = code_fingerprint()
    if code_after["sha256"] != code_before["sha256"]:
        outcome["notes"].append(
            f"the library's sources changed during the run (newest: {code_after['newest_file']}"
            f" at {code_after['newest_mtime']}): child processes started late may run newer code"
        )
    measures = outcome["measures"]
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
        "table": table_rows(measures),
    }
    write(report, args.workdir, args.json_out)
    show(report)
    errors = [m for m in args.only if measures[m].get("status") == "error"]
    for name in errors:
        print(f"error in {name}: {measures[name]['error']}", file=sys.stderr)
    print(f"figures: {args.workdir / 'bench-results.json'}")
    return 1 if errors else 0


def worker(argv: list[str]) -> int:
    """The writer and reader processes of the live, burst and soak measures."""
    parser = argparse.ArgumentParser(prog="bench worker")
    parser.add_argument(
        "role", choices=["_live_writer", "_live_reader", "_burst_writer", "_soak_writer"]
    )
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
    roles = {
        "_live_writer": live.writer,
        "_live_reader": live.reader,
        "_burst_writer": burst.writer,
        "_soak_writer": soak_writer.writer,
    }
    roles[args.role](args)
    return 0
