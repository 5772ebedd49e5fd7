"""The report: the table (measure | value | baseline | ratio | target |
pass/fail) as text and Markdown, and every figure as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .ingest_pg import table_rows as ingest_rows
from .live_covalent import table_rows as live_covalent_rows
from .notify import table_rows as notify_rows
from .options import MEASURES
from .soak import table_rows as soak_rows


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


def table_rows(measures: dict[str, Any]) -> list[dict[str, str]]:
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
            naive = m.get("naive", {})
            if naive.get("status") == "ok":
                base = f"naive Covalent listing {fmt_spread(naive['seconds'], fmt_seconds)}"
                add(
                    f"cold build vs naive Covalent listing, N={m['n']:,}",
                    fmt_seconds(m["seconds"]["median"]),
                    base,
                    f"{naive['build_ratio']:.2f}x",
                    naive["build_target"].replace(" naive", ""),
                    verdict(naive["build_pass"]),
                )
                add(
                    f"all listed with status vs naive listing, N={m['n']:,}",
                    fmt_seconds(m["listed_seconds"]["median"]),
                    base,
                    f"{naive['listed_ratio']:.2f}x",
                    naive["listed_target"].replace(" naive", ""),
                    verdict(naive["listed_pass"]),
                )
            elif naive:
                add(f"naive Covalent listing, N={m['n']:,}", "skipped", result=naive["why"][:60])
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
            if "find_seconds" in m:
                add(
                    f"rescan vs find -name result.pkl, N={m['n']:,}",
                    fmt_seconds(m["seconds"]["median"]),
                    f"find {fmt_spread(m['find_seconds'], fmt_seconds)}",
                    f"{m['ratio_to_find']:.2f}x",
                    "<= 1.5x",
                    verdict(m["find_pass"]),
                )
        elif name == "notify":
            for label, value, baseline, target, ok in notify_rows(m):
                add(label, value, baseline, target=target, result=verdict(ok))
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
            side = m.get("against_first_page", {})
            for op, v in m["python"].items():
                if op not in m["raw_sql"]:
                    row = side.get(op)
                    if row is None:
                        continue
                    # Search and sort beside the plain first page (issue 15).
                    informative = "common word" in op or "6th page" in op
                    add(
                        f"Python {op} @ {m['n']:,}",
                        f"{fmt_ms(v['p50_ms']['median'])} (p99 {fmt_ms(v['p99_ms']['median'])})",
                        f"first page {fmt_ms(side['plain_first_page_p50_ms'])}",
                        f"{row['ratio']:.1f}x",
                        "-" if informative else "<= 3x",
                        "info" if informative else verdict(row["within_3x"]),
                    )
                    continue
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
        elif name == "server":
            cold = m["cold"]
            ratio = m["ratio_to_legacy_listing"]
            add(
                f"server cold sync per dispatch, N={m['n']:,}",
                f"{m['cold_per_dispatch_ms']:.3f} ms ({fmt_seconds(cold['seconds'])})",
                f"legacy listing {m['legacy_listing_per_dispatch_ms']:.3f} ms",
                f"{ratio:.1f}x" if ratio else "-",
            )
            add(
                f"server sync, nothing changed, N={m['n']:,}",
                fmt_seconds(cold["unchanged_seconds"]),
            )
            live = m["live"]
            d = live["latency_ms"]
            add(
                f"server live: {live['changes']} rows completed, commit to index",
                f"p50 {fmt_ms(d.get('p50'))}, p99 {fmt_ms(d.get('p99'))}",
                f"{live['seen']}/{live['changes']} seen",
                target="p99 < 1 s",
                result=verdict(m["pass"]["live_p99"]),
            )
        elif name == "cli-start":
            base = m["bare_python_seconds"]["median"]
            for c in m["commands"].values():
                add(
                    f"CLI start: {c['command']}, {m['records']} records",
                    fmt_ms(c["seconds"]["median"] * 1000),
                    f"python -c pass {fmt_ms(base * 1000)}",
                    f"{c['ratio']:.1f}x (CPU {c['cpu_ratio']:.1f}x)",
                    target=m["target"],
                    result=verdict(c["ratio"] <= 5),
                )
        elif name == "idle":
            rate = m["daemon"]["wakeups_per_second"]
            add(
                f"idle daemon wake-ups ({m['root_dispatches']} dispatches, "
                f"{m['daemon']['seconds']:g} s)",
                f"{rate:.2f}/s ({m['daemon']['voluntary_per_second']:.2f} voluntary)",
                f"bare sleep {m['bare_sleep']['wakeups_per_second']:.2f}/s, previous ticks "
                f"{m['previous_ticks']['wakeups_per_second']:.2f}/s",
                target="voluntary <= 1/s",
                result=verdict(m["pass"]),
            )
    ingest = measures.get("ingest-pg")
    if ingest is not None and ingest.get("status") == "ok":
        for measure, value, baseline in ingest_rows(ingest):
            add(measure, value, baseline)
    elif ingest is not None and ingest.get("status") == "error":
        add("ingest-pg", "error", result=ingest.get("error", "")[:60])
    real = measures.get("live-covalent")
    if real is not None and real.get("status") == "ok":
        for measure, value, baseline, target, result in live_covalent_rows(real):
            add(measure, value, baseline, target=target, result=result)
    elif real is not None and real.get("status") == "error":
        add("live-covalent", "error", result=real.get("error", "")[:60])
    soaked = measures.get("soak")
    if soaked is not None and soaked.get("status") == "ok":
        for label, value, baseline, target, ok in soak_rows(soaked):
            add(label, value, baseline, target=target, result=verdict(ok))
    elif soaked is not None and soaked.get("status") == "error":
        add("soak", "error", result=soaked.get("error", "")[:60])
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


def write(report: dict[str, Any], workdir: Path, json_out: Path | None) -> None:
    """Every figure as JSON (in the workdir, and at ``--json``) and the table as Markdown."""
    text = json.dumps(report, indent=1, default=str)
    (workdir / "bench-results.json").write_text(text)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text)
    (workdir / "bench-results.md").write_text(
        f"Machine: {report['machine']['line']}\n\n{markdown_table(report['table'])}\n"
    )


def show(report: dict[str, Any]) -> None:
    """The run on standard output: machine, command, load, the table, the notes."""
    load = report["load_average"]
    print(f"machine: {report['machine']['line']}")
    print(f"command: {report['command']}  ({report['duration_seconds']}s)")
    print(f"load average (1 min) before/after: {load['before'][0]:.2f}/{load['after'][0]:.2f}")
    print(text_table(report["table"]))
    for note in report["notes"]:
        print(f"note: {note}")
