"""Several machines, one index: PostgreSQL as the shared store.

Every test here runs against a real PostgreSQL server the suite starts on
loopback (``postgres_server`` in conftest; skipped, saying how to get the
server, without its binaries). Hosts are told apart by the ``host`` setting,
so several "machines" are several homes (config, state, logs) on this one,
each with its own results directories.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import tomli_w

from dispatch_indexer import DispatchIndex
from dispatch_indexer.config import Config, default_host
from dispatch_indexer.corpus import read_template, with_new_id, write_dispatch
from dispatch_indexer.daemon.loop import Daemon
from dispatch_indexer.errors import BadInputError, ConfigError
from dispatch_indexer.paths import ensure_private_dir, resolve
from dispatch_indexer.read.reader import read_dispatch
from dispatch_indexer.store import engine as db_mod
from dispatch_indexer.store.migrations import LATEST, _as_of_v1

from ..daemon_helpers import DaemonProcess, wait_for
from ..postgres_server import PostgresServer
from ..realdata import ARITH, FIXTURES, SLEEPY
from .test_counts import assert_right as assert_counts_right
from .test_counts import downgrade_to_v4


def host_home(home: Path, host: str | None, **settings: Any) -> Path:
    """A machine's home: its config file names its host (and ``settings``)."""
    config = resolve(home).config_file
    ensure_private_dir(config.parent)
    data = dict(settings)
    if host is not None:
        data["host"] = host
    config.write_bytes(tomli_w.dumps(data).encode())
    return home


def open_host(url: str, home: Path, host: str, **settings: Any) -> DispatchIndex:
    host_home(home, host, reader_processes=0, **settings)
    return DispatchIndex(url, home=home)


def records(index: DispatchIndex) -> dict[str, Any]:
    return {r.dispatch_id: r for r in index.list(limit=None)}


# ---- settings and URLs ------------------------------------------------------


def test_the_host_is_the_hostname_unless_set() -> None:
    assert Config().host_name == default_host() == socket.gethostname()
    assert Config(host=" lab-7 ").validate().host_name == "lab-7"
    for bad in ("", "   ", "x" * 256, 7):
        with pytest.raises(ConfigError, match="host"):
            Config(host=bad).validate()  # type: ignore[arg-type]


def test_postgres_urls() -> None:
    params = db_mod.postgres_params(
        "postgresql://me:p%40ss@db.example:5433/idx?sslmode=require&connect_timeout=3"
    )
    assert params["dbname"] == "idx" and params["host"] == "db.example"
    assert (params["port"], params["user"], params["password"]) == (5433, "me", "p@ss")
    assert params["sslmode"] == "require" and params["connect_timeout"] == "3"
    socket_dir = db_mod.postgres_params("postgres:///idx?host=/run/postgresql")
    assert socket_dir["host"] == "/run/postgresql" and "user" not in socket_dir
    with pytest.raises(BadInputError, match="no database name"):
        db_mod.postgres_params("postgresql://me@db.example:5432/")
    assert db_mod.describe("postgresql://me:secret@h/idx") == "postgresql://me:***@h/idx"


def test_without_the_server_binaries_the_tests_say_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from .. import postgres_server

    monkeypatch.setenv(postgres_server.BIN_ENV, str(tmp_path))
    monkeypatch.setattr(postgres_server.shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres_server.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres_server.Path, "is_file", lambda self: False)
    assert postgres_server.find_bindir() is None
    assert "apt-get install postgresql" in postgres_server.HOW_TO_GET


# ---- one index, several hosts -----------------------------------------------


def test_hosts_with_the_same_root_path_keep_to_their_own(
    postgres_url: str, tmp_path: Path, corpus: Path
) -> None:
    # One path, two machines: "alpha" and "beta" each have their own disk at
    # /.../results. Here the disks take turns at the path.
    root = corpus / "results"
    alpha = open_host(postgres_url, tmp_path / "alpha", "alpha")
    alpha.add_dirs([root])
    alpha.scan()
    alphas = set(records(alpha))
    assert alphas and all(r.host == "alpha" for r in records(alpha).values())

    alpha_disk = tmp_path / "alpha-disk"
    root.rename(alpha_disk)
    root.mkdir()
    template = read_template(FIXTURES / "results" / ARITH)
    betas = {write_dispatch(root, *with_new_id(template)).name for _ in range(3)}
    beta = open_host(postgres_url, tmp_path / "beta", "beta")
    beta.add_dirs([root])
    summary = beta.scan()
    # beta's scan saw none of alpha's folders, and marks none of them missing.
    assert (summary.new, summary.missing) == (3, 0)
    shown = records(beta)
    assert {i for i, r in shown.items() if r.host == "beta"} == betas
    assert all(not shown[i].missing and shown[i].host == "alpha" for i in alphas)
    assert {(d.path, d.records) for d in alpha.dirs()} == {(str(root), len(alphas))}
    assert {(d.path, d.records) for d in beta.dirs()} == {(str(root), 3)}
    roots = alpha._tables.Root
    assert sorted(roots.select(roots.host).where(roots.path == str(root)).tuples()) == [
        ("alpha",),
        ("beta",),
    ]

    # alpha's disk is back at the path: alpha finds everything unchanged and
    # leaves beta's three alone; beta now meets copies of alpha's dispatches,
    # identical to the ones shown, and takes none of them.
    beta_disk = tmp_path / "beta-disk"
    root.rename(beta_disk)
    alpha_disk.rename(root)
    summary = alpha.scan()
    assert (summary.new, summary.updated, summary.missing) == (0, 0, 0)
    summary = beta.scan()
    assert (summary.new, summary.updated, summary.missing) == (0, 0, 3)
    shown = records(alpha)
    assert all(shown[i].host == "alpha" and not shown[i].missing for i in alphas)
    assert all(shown[i].host == "beta" and shown[i].missing for i in betas)
    alpha.close()
    beta.close()


def test_the_newest_copy_wins_across_hosts_and_a_lost_copy_falls_back(
    postgres_url: str, tmp_path: Path
) -> None:
    running = tmp_path / "alpha-results"
    final = tmp_path / "beta-results"
    shutil.copytree(FIXTURES / "snapshots" / "running" / SLEEPY, running / SLEEPY)
    shutil.copytree(FIXTURES / "results" / SLEEPY, final / SLEEPY)
    alpha = open_host(postgres_url, tmp_path / "alpha", "alpha")
    beta = open_host(postgres_url, tmp_path / "beta", "beta")
    alpha.add_dirs([running])
    beta.add_dirs([final])
    alpha.scan()
    assert (alpha.get(SLEEPY).status, alpha.get(SLEEPY).host) == ("RUNNING", "alpha")
    beta.scan()
    assert (alpha.get(SLEEPY).status, alpha.get(SLEEPY).host) == ("COMPLETED", "beta")
    # A newer file with older contents does not take it back.
    os.utime(running / SLEEPY / "result.pkl")
    assert alpha.scan().updated == 0
    assert alpha.get(SLEEPY).host == "beta"

    # beta's copy is deleted: the record cannot be read from alpha's disk by
    # beta, so it shows missing and alpha is asked to read its copy again.
    shutil.rmtree(final / SLEEPY)
    assert beta.scan().missing == 1
    assert alpha.get(SLEEPY).missing
    assert alpha._store.reread_requests() == [str(running / SLEEPY)]
    assert beta._store.reread_requests() == []
    # alpha's daemon picks the request up within seconds...
    daemon = Daemon(alpha)
    daemon._sync_roots(scan=False)
    daemon._check_reread_requests(0.0)
    assert list(daemon.work.read) == [str(running / SLEEPY)]
    # ... and reading it shows alpha's copy.
    assert alpha.scan().updated == 1
    record = alpha.get(SLEEPY)
    assert (record.status, record.host, record.missing) == ("RUNNING", "alpha", False)
    assert alpha._store.reread_requests() == []
    alpha.close()
    beta.close()


def test_writers_racing_on_the_same_dispatches_give_what_one_writer_would(
    postgres_url: str, tmp_path: Path
) -> None:
    # alpha has a RUNNING copy of each dispatch, beta the COMPLETED one; both
    # scan again and again at once, in small transactions. Whatever the
    # interleaving, every record ends as beta's COMPLETED copy, with its bytes.
    count = 120
    running = read_template(FIXTURES / "snapshots" / "running" / SLEEPY)
    final = read_template(FIXTURES / "results" / SLEEPY)
    ids = [with_new_id(running)[0] for _ in range(count)]
    for dispatch_id in ids:
        write_dispatch(tmp_path / "alpha-results", *with_new_id(running, dispatch_id))
        write_dispatch(tmp_path / "beta-results", *with_new_id(final, dispatch_id))
    indexes = {
        host: open_host(postgres_url, tmp_path / host, host, batch_size=7)
        for host in ("alpha", "beta")
    }
    for host, index in indexes.items():
        index.add_dirs([tmp_path / f"{host}-results"])
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def rounds(host: str) -> None:
        index = indexes[host]
        try:
            start.wait()
            for round_ in range(4):
                # Make every copy look changed, so that each round writes all.
                for folder in (tmp_path / f"{host}-results").iterdir():
                    stamp = time.time_ns() + round_
                    os.utime(folder / "result.pkl", ns=(stamp, stamp))
                index.scan()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=rounds, args=(host,)) for host in indexes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    shown = records(indexes["alpha"])
    assert set(shown) == set(ids)
    assert {(r.status, r.host, r.missing) for r in shown.values()} == {("COMPLETED", "beta", False)}
    blobs = indexes["alpha"]._tables.ResultBlob
    stored = dict(blobs.select(blobs.dispatch_id, blobs.sha256).tuples())
    assert {i: shown[i].sha256 for i in ids} == {i: stored[i] for i in ids}
    for index in indexes.values():
        index.close()


def test_writers_and_folds_at_once_keep_the_counts(postgres_url: str, tmp_path: Path) -> None:
    # As above, alpha's RUNNING copies race beta's COMPLETED ones (a record's
    # status and host change back and forth) and both hide some, while each
    # host also folds the count log as often as it can (only one folds at a
    # time; the other skips). The counts end equal to the records' own.
    count = 60
    running = read_template(FIXTURES / "snapshots" / "running" / SLEEPY)
    final = read_template(FIXTURES / "results" / SLEEPY)
    ids = [with_new_id(running)[0] for _ in range(count)]
    for dispatch_id in ids:
        write_dispatch(tmp_path / "alpha-results", *with_new_id(running, dispatch_id))
        write_dispatch(tmp_path / "beta-results", *with_new_id(final, dispatch_id))
    indexes = {
        host: open_host(postgres_url, tmp_path / host, host, batch_size=5)
        for host in ("alpha", "beta")
    }
    for host, index in indexes.items():
        index.add_dirs([tmp_path / f"{host}-results"])
    hidden = {i for round_ in range(3) for i in ids[round_::7]}
    start = threading.Barrier(4)
    done = threading.Event()
    errors: list[BaseException] = []
    folds = {host: 0 for host in indexes}

    def scans(host: str) -> None:
        index = indexes[host]
        try:
            start.wait()
            for round_ in range(3):
                for folder in (tmp_path / f"{host}-results").iterdir():
                    stamp = time.time_ns() + round_
                    os.utime(folder / "result.pkl", ns=(stamp, stamp))
                index.scan()
                index.hide(ids[round_::7])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def folding(host: str) -> None:
        try:
            start.wait()
            while not done.is_set():
                folds[host] += indexes[host]._store.compact_counts(threshold=0)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    writers = [threading.Thread(target=scans, args=(host,)) for host in indexes]
    folders = [threading.Thread(target=folding, args=(host,)) for host in indexes]
    for thread in writers + folders:
        thread.start()
    for thread in writers:
        thread.join(120)
    done.set()
    for thread in folders:
        thread.join(30)
    assert errors == []
    assert sum(folds.values()) > 0
    alpha = indexes["alpha"]
    assert alpha.counts() == {"COMPLETED": count - len(hidden)}
    assert alpha.counts_by_host() == {"beta": count}
    assert_counts_right(alpha)
    for index in indexes.values():
        index.close()


def test_processes_opening_a_new_index_at_once_all_succeed(postgres_url: str) -> None:
    # Each would run every migration step: they take turns (an advisory lock).
    code = (
        "import sys\nfrom dispatch_indexer import DispatchIndex\n"
        "DispatchIndex(sys.argv[1]).close()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, postgres_url], stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    with DispatchIndex(postgres_url) as index:
        assert index._tables.MetaEntry.get_by_id("schema_version").value == str(LATEST)


def test_path_columns_compare_byte_by_byte(postgres_url: str, tmp_path: Path) -> None:
    # The test server collates text by ICU's en-US rules where it can, which
    # put "results-b/x" inside the range of "results/" unless told otherwise.
    template = read_template(FIXTURES / "results" / ARITH)
    inside = {write_dispatch(tmp_path / "r/a", *with_new_id(template)).name for _ in range(2)}
    for name in ("r/a-b", "r/A", "r/a0", "r/ab"):
        write_dispatch(tmp_path / name, *with_new_id(template))
    with DispatchIndex(postgres_url) as index:
        index.add_dirs([tmp_path / "r"])
        assert index.scan().new == 6
        found = {r.dispatch_id for r in index.list(results_dir=tmp_path / "r/a", limit=None)}
        assert found == inside
        assert len(index._store.known_locations(str(tmp_path / "r/a"))) == 2
        with index._database.connection().cursor() as cur:
            cur.execute(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns"
                " WHERE column_name IN ('path', 'results_dir') ORDER BY 1, 2"
            )
            assert {row[2] for row in cur.fetchall()} == {"C"}


@pytest.mark.engines
def test_an_index_of_version_2_gets_hosts_and_keeps_its_rows(
    indexed: DispatchIndex, db_engine: str
) -> None:
    before = {r.dispatch_id: (r.status, r.path) for r in indexed.list(limit=None)}
    known = {root: indexed._store.known_locations(root) for root in indexed.config.root_paths()}
    _downgrade_to_v2(indexed)
    indexed.close()
    with DispatchIndex() as upgraded:
        meta = upgraded._tables.MetaEntry
        assert meta.get_by_id("schema_version").value == str(LATEST)
        shown = records(upgraded)
        assert {i: (r.status, r.path) for i, r in shown.items()} == before
        assert {r.host for r in shown.values()} == {default_host()}
        for root, locations in known.items():
            # Kept, with their host; step 9 marks every copy to be read
            # again (its folder size), as step 2 did for documents.
            assert {p: k.dispatch_id for p, k in locations.items()} == {
                p: k.dispatch_id for p, k in upgraded._store.known_locations(root).items()
            }
        summary = upgraded.scan()
        assert (summary.new, summary.missing) == (0, 0)
        assert [d.records for d in upgraded.dirs()] == [
            sum(r.root == d.path for r in shown.values()) for d in upgraded.dirs()
        ]


def _downgrade_to_v2(index: DispatchIndex) -> None:
    """What version 2 had: no host anywhere, roots and locations keyed by path."""
    database, tables = index._database, index._tables
    with database.atomic():
        downgrade_to_v4(database)
        database.execute_sql('DROP INDEX "dispatch_host_root"')
        database.execute_sql('ALTER TABLE "dispatch" DROP COLUMN "host"')
        for model in (tables.Root, tables.Location):
            table = model._meta.table_name
            old = _as_of_v1(model)
            columns = ", ".join(f'"{f.column_name}"' for f in old._meta.sorted_fields)
            database.execute_sql(f'CREATE TABLE "kept" AS SELECT {columns} FROM "{table}"')
            database.drop_tables([model])
            database.create_tables([old])
            database.execute_sql(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "kept"')
            database.execute_sql('DROP TABLE "kept"')
        tables.MetaEntry.update(value="2").where(tables.MetaEntry.key == "schema_version").execute()


@pytest.mark.engines
def test_text_the_server_cannot_hold_is_stored_escaped(index: DispatchIndex) -> None:
    # PostgreSQL's text holds no NUL (SQLite's does): both store it as \x00.
    outcome = read_dispatch(FIXTURES / "results" / ARITH)
    outcome.record.error = "bad\x00thing"
    outcome.record.lattice_name = "nul\x00led"
    assert index._store.apply([outcome]).new == 1
    assert index.get(ARITH).error == "bad\\x00thing"
    assert [r.dispatch_id for r in index.list(lattice_name="nul\x00led")] == [ARITH]


def test_a_restarted_server_is_reconnected(
    postgres_server: PostgresServer, postgres_url: str, corpus: Path
) -> None:
    with DispatchIndex(postgres_url) as index:
        index.add_dirs([corpus / "results"])
        index.scan()
        before = index.counts()
        postgres_server.restart()
        # The connection from before the restart is dropped and the call
        # made again on a new one.
        assert index.counts() == before
        assert index.scan().unchanged == sum(before.values())


# ---- three daemons, one reader, one server -------------------------------------


HOSTS = ("alpha", "beta", "gamma")
PER_HOST = 2000


def _cli(home: Path, url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dispatch_indexer", "--home", str(home), "--db", url, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _get(base: str, path: str, timeout: float = 30) -> Any:
    with urllib.request.urlopen(base + path, timeout=timeout) as response:
        return json.loads(response.read())


@pytest.fixture
def served(tmp_path: Path, postgres_url: str) -> Iterator[str]:
    """``covalent-indexer --db URL serve`` on a free port; its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = host_home(tmp_path / "server", "server")
    command = [sys.executable, "-m", "dispatch_indexer", "--home", str(home)]
    proc = subprocess.Popen(
        [*command, "--db", postgres_url, "serve", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stderr.read().decode()}")
        try:
            return _get(base, "/healthz", timeout=2) == {"status": "ok"}
        except (OSError, urllib.error.URLError):
            return False

    try:
        wait_for(answers, 30, "the HTTP server")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.mark.slow
def test_three_hosts_write_one_index(
    postgres_server: PostgresServer, postgres_url: str, served: str, tmp_path: Path
) -> None:
    url = postgres_url
    roots = {host: tmp_path / f"{host}-results" for host in HOSTS}
    homes: dict[str, Path] = {}
    daemons: dict[str, DaemonProcess] = {}
    environment = {k: v for k, v in os.environ.items() if k != "COVALENT_INDEXER_DB"}
    for host in HOSTS:
        roots[host].mkdir()
        # Each machine names the database its own way: the config file, the
        # option, the environment.
        settings: dict[str, Any] = {
            "reader_processes": 1,
            "roots": [{"path": str(roots[host]), "watch": "native"}],
        }
        args: list[str] = ["--home", str(tmp_path / host)]
        env = dict(environment)
        if host == "alpha":
            settings["db"] = url
        elif host == "beta":
            args += ["--db", url]
        else:
            env["COVALENT_INDEXER_DB"] = url
        homes[host] = host_home(tmp_path / host, host, **settings)
        daemons[host] = DaemonProcess(*args, home=homes[host], env=env)
    reader = DispatchIndex(url, home=host_home(tmp_path / "reader", "reader"))

    def by_host() -> dict[str, int]:
        return reader._store.count_by_host()

    def status(host: str) -> dict[str, Any]:
        return json.loads(_cli(homes[host], url, "status", "--json").stdout)

    try:
        # Three daemons start at once on an empty database: the schema is
        # made once, whoever comes first.
        for daemon in daemons.values():
            daemon.start(wait=False)
        for daemon in daemons.values():
            daemon.wait_ready()

        template = read_template(FIXTURES / "results" / ARITH)
        written: dict[str, list[str]] = {host: [] for host in HOSTS}
        progress = {host: 0 for host in HOSTS}
        gates = {700: threading.Event(), 1400: threading.Event()}
        reached = {mark: threading.Barrier(len(HOSTS) + 1) for mark in gates}

        def write(host: str) -> None:
            for n in range(PER_HOST):
                if n in gates:
                    reached[n].wait(60)
                    gates[n].wait(120)
                dispatch_id, files = with_new_id(template)
                write_dispatch(roots[host], dispatch_id, files)
                written[host].append(dispatch_id)
                progress[host] = n + 1

        writers = [threading.Thread(target=write, args=(host,)) for host in HOSTS]
        started = time.monotonic()
        for thread in writers:
            thread.start()

        # 1. At 700 each: gamma's daemon is killed. The others and the
        # reader go on as if nothing happened.
        reached[700].wait(60)
        print(f"700 each written after {time.monotonic() - started:.1f}s: {by_host()}")
        gamma_seen = by_host().get("gamma", 0)
        daemons["gamma"].signal(signal.SIGKILL)
        daemons["gamma"].wait()
        gates[700].set()
        total = 0
        while min(progress.values()) < 1400:
            page = reader.list(limit=100)
            assert len(page) == min(100, sum(by_host().values())) or len(page) <= 100
            stats = _get(served, "/api/v1/stats")
            assert stats["total"] >= total
            total = stats["total"]
            time.sleep(0.25)
        reached[1400].wait(60)
        wait_for(lambda: by_host().get("alpha") == by_host().get("beta") == 1400, 60, "1400 each")
        print(f"1400 each indexed after {time.monotonic() - started:.1f}s: {by_host()}")
        assert by_host().get("gamma", 0) < 1400

        # 2. The database server goes away in the middle of the burst.
        postgres_server.stop()
        gates[1400].set()
        for host in ("alpha", "beta"):
            wait_for(
                lambda host=host: any(
                    d["key"] == "database-connection" for d in status(host)["degraded"]
                ),
                30,
                f"{host}'s status to say it lost the database",
            )
        down = _cli(homes["alpha"], url, "status", "--json")
        assert down.returncode == 4
        assert "cannot reach the index database" in down.stdout
        with pytest.raises(Exception, match="index database"):
            reader.counts()
        time.sleep(1)
        postgres_server.start()
        print(f"server back after {time.monotonic() - started:.1f}s")

        # 3. Everything written meanwhile is caught up.
        for thread in writers:
            thread.join(120)
        assert all(len(ids) == PER_HOST for ids in written.values())
        wait_for(
            lambda: by_host().get("alpha") == by_host().get("beta") == PER_HOST,
            90,
            "alpha and beta to catch up",
        )
        for host in ("alpha", "beta"):
            wait_for(lambda host=host: status(host)["degraded"] == [], 30, "recovered")
            assert "reconnected to the database server" in daemons[host].log()
        print(f"alpha and beta caught up after {time.monotonic() - started:.1f}s")
        assert by_host().get("gamma", 0) == gamma_seen < PER_HOST
        daemons["gamma"].start()
        wait_for(lambda: by_host() == {h: PER_HOST for h in HOSTS}, 90, "gamma to catch up")
        elapsed = time.monotonic() - started

        # Every dispatch once, shown from the host that wrote it, and found
        # in exactly one folder: its own host's.
        shown = records(reader)
        assert len(shown) == len(HOSTS) * PER_HOST
        for host in HOSTS:
            mine = {i: r for i, r in shown.items() if r.host == host}
            assert set(mine) == set(written[host])
            assert {(r.status, r.missing, r.root) for r in mine.values()} == {
                ("COMPLETED", False, str(roots[host]))
            }
        with psycopg.connect(url) as conn:
            doubles = conn.execute(
                "SELECT dispatch_id FROM location GROUP BY dispatch_id HAVING count(*) > 1"
            ).fetchall()
            hosts = dict(conn.execute("SELECT host, count(*) FROM location GROUP BY host"))
        assert doubles == []
        assert hosts == {h: PER_HOST for h in HOSTS}

        # The HTTP API and Covalent's UI endpoints answer from PostgreSQL.
        stats = _get(served, "/api/v1/stats")
        assert stats["total"] == len(HOSTS) * PER_HOST
        assert stats["by_status"] == {"COMPLETED": len(HOSTS) * PER_HOST}
        assert stats["by_host"] == {h: PER_HOST for h in HOSTS}
        page = _get(served, "/api/v1/dispatches?limit=10&status=COMPLETED")
        assert len(page["dispatches"]) == 10 and page["next_cursor"]
        some = written["beta"][17]
        assert _get(served, f"/api/v1/dispatches/{some}")["path"] == str(roots["beta"] / some)
        assert _get(served, f"/api/results/{some}")["dispatch_id"] == some
        documents = _get(served, "/api/results", timeout=120)
        assert len(documents) == len(HOSTS) * PER_HOST
        assert elapsed < 150, elapsed
    finally:
        for daemon in daemons.values():
            daemon.stop()
        reader.close()
