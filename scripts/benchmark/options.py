"""The command line: every option, and the sizes of a full and a quick run."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import REPO

MEASURES = (
    "cold",
    "rescan",
    "live",
    "burst",
    "queries",
    "footprint",
    "server",
    "cli-start",
    "idle",
    "notify",
)
# Run only when named in --only (see ingest_pg.py, live_covalent.py), or, the
# soak, given --soak.
EXTRA_MEASURES = ("ingest-pg", "live-covalent", "soak")

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
    "server_n": 100_000,
    "server_changes": 1000,
    "server_transactions": 10,
    "idle_seconds": 60.0,
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
    "server_n": 330,
    "server_changes": 50,
    "server_transactions": 5,
    "idle_seconds": 3.0,
}


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
        "--server-n",
        "--server",
        type=int,
        help="dispatches in the synthesized Covalent server database (100000)",
    )
    parser.add_argument(
        "--server-changes",
        type=int,
        help="lattice rows completed while the daemon follows the server (1000)",
    )
    parser.add_argument(
        "--server-transactions",
        type=int,
        help="transactions those rows are committed in (10)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        help="how long the idle daemon's wake-ups are counted (60)",
    )
    parser.add_argument(
        "--idle-baseline-ref",
        default=None,
        help="also count the wake-ups of the daemon of this git commit (e.g. main)",
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
    parser.add_argument(
        "--soak",
        type=float,
        metavar="MINUTES",
        help="the soak: the daemon under steady saves and deletions for MINUTES, its memory "
        "and descriptors sampled, nothing lost (alone, unless --only names more)",
    )
    parser.add_argument(
        "--soak-rate", type=float, default=4.0, help="the soak's writes per second (4)"
    )
    parser.add_argument(
        "--soak-population",
        type=int,
        default=1000,
        help="dispatches the soak's writer keeps on disk (1000)",
    )
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    if args.soak is not None:
        only_given = any(a == "--only" or a.startswith("--only=") for a in argv)
        only = list(dict.fromkeys([*(only if only_given else []), "soak"]))
    elif "soak" in only:
        parser.error("the soak runs with --soak MINUTES")
    if args.soak_rate <= 0 or args.soak_population < 1 or (args.soak or 1) <= 0:
        parser.error("--soak, --soak-rate and --soak-population must be positive")
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
    if args.server_n < 11 or args.server_changes < 1 or args.server_transactions < 1:
        parser.error("--server-n must be >= 11, --server-changes and --server-transactions >= 1")
    if args.repeat < 1 or args.n < 1 or args.queries_n < 100 or args.burst_n < 1:
        parser.error("--repeat and --n must be >= 1, --queries-n >= 100, --burst-n >= 1")
    args.workdir = args.workdir.expanduser().resolve()
    if args.json_out is not None:
        args.json_out = args.json_out.expanduser().resolve()
    return args
