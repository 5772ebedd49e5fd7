"""Measure 1, cold: index N dispatches from nothing, beside a bare
scandir+stat walk, the parse floor (read_dispatch on every folder with no
database) and the naive Covalent listing (``naive``: the real Covalent
loading every result.pkl; skipped when its venv cannot be built);
optionally one build profiled with cProfile."""

from __future__ import annotations

import cProfile
import io
import pstats
import shutil
import time
from typing import Any

from dispatch_indexer import DispatchIndex

from . import naive
from .common import log, spread
from .corpus import Corpus, bare_walk, parse_floor, warm_files
from .database import db_files_size, db_path_of
from .session import Session


def measure(session: Session) -> dict[str, Any]:
    args = session.args
    corpus = session.corpus(args.n)
    found = bare_walk(corpus.root)  # warms the page cache for every contender
    if found != corpus.n:
        raise RuntimeError(f"the bare walk found {found} dispatches, expected {corpus.n}")
    walks, floors, builds, listings, summaries = [], [], [], [], []
    naives: list[dict[str, Any]] = []
    covalent = naive.python(session.workdir, args.quick)
    home = None
    for r in range(args.repeat):
        if covalent is not None:
            warm_files(corpus.root)
            naives.append(naive.run(covalent, corpus.root, corpus.n))
        t = time.perf_counter()
        bare_walk(corpus.root)
        walks.append(time.perf_counter() - t)
        warm_files(corpus.root)
        t = time.perf_counter()
        _read, unreadable_floor = parse_floor(corpus.root)
        floors.append(time.perf_counter() - t)
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
        home = session.fresh_home(f"cold-{r}")
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
    session.indexed_homes[args.n] = home
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
        "naive": _against_naive(naives, build, listed),
    }
    if args.profile:
        result["profile"] = profile(session, corpus)
    return result


# Issue 16's targets, against the naive Covalent listing of the same tree.
BUILD_TARGET, LISTED_TARGET = 1.0, 0.15


def _against_naive(
    naives: list[dict[str, Any]], build: dict[str, Any], listed: dict[str, Any]
) -> dict[str, Any]:
    if not naives:
        return {"status": "skipped", "why": "no venv with Covalent (see the log)"}
    seconds = spread([n["seconds"] for n in naives])
    build_ratio = build["median"] / seconds["median"]
    listed_ratio = listed["median"] / seconds["median"]
    return {
        "status": "ok",
        "seconds": seconds,
        "wall_seconds": spread([n["wall_seconds"] for n in naives]),
        "import_seconds": naives[-1]["import_seconds"],
        "failed": naives[-1]["failed"],
        "statuses": naives[-1]["statuses"],
        "build_ratio": build_ratio,
        "build_target": f"<= {BUILD_TARGET:g}x naive",
        "build_pass": build_ratio <= BUILD_TARGET,
        "listed_ratio": listed_ratio,
        "listed_target": f"<= {LISTED_TARGET:g}x naive",
        "listed_pass": listed_ratio <= LISTED_TARGET,
    }


def profile(session: Session, corpus: Corpus) -> dict[str, Any]:
    home = session.fresh_home("cold-profile")
    profiler = cProfile.Profile()
    with DispatchIndex(home=home) as index:
        index.add_dirs([corpus.root])
        profiler.enable()
        index.scan()
        profiler.disable()
    out = session.workdir / "cold-build.pstats"
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
    (session.workdir / "cold-build-profile.txt").write_text(text.getvalue())
    shutil.rmtree(home, ignore_errors=True)
    return {
        "total_seconds": total,
        "pstats": str(out),
        "by_tottime": top_tot,
        "by_cumtime": top_cum,
    }


def _short(file: str) -> str:
    for marker in ("dispatch_indexer/", "site-packages/", "lib/python"):
        if marker in file:
            return file[file.index(marker) :]
    return file
