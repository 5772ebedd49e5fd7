"""A throwaway PostgreSQL server for the tests, run from the server binaries.

``PostgresServer`` makes a cluster in a temporary folder (``initdb``),
starts it on a free loopback port with its unix socket in that folder, makes
one database per test, and stops and deletes it all at the end. The server
is the real one the package ``postgresql`` installs (Debian and Ubuntu put
it in ``/usr/lib/postgresql/<version>/bin``); ``$COVALENT_INDEXER_PG_BIN``
names another folder. ``initdb`` and ``postgres`` refuse to run as root, so
under root (as in CI) the server runs as the unprivileged user ``nobody``.

The cluster compares text with an ICU collation where the server has ICU
(the default of most installations is a locale that ignores punctuation),
so a query that relies on byte order without saying so fails here too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

BIN_ENV = "COVALENT_INDEXER_PG_BIN"
HOW_TO_GET = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; install them "
    "(Debian/Ubuntu: apt-get install postgresql; .ci/run does this when it runs as root) "
    f"or set ${BIN_ENV} to the folder that holds them"
)
USER = "indexer"
PASSWORD = "indexer-test-secret"  # a throwaway server on loopback
UNPRIVILEGED = "nobody"


def find_bindir() -> Path | None:
    """The folder of initdb, pg_ctl and postgres, or None."""
    candidates: list[Path] = []
    if os.environ.get(BIN_ENV):
        candidates.append(Path(os.environ[BIN_ENV]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=_version_key, reverse=True)]
    candidates += [Path("/usr/local/pgsql/bin"), Path("/opt/homebrew/bin")]
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        # ``durable``: the server's own defaults (fsync at every commit), as
        # a benchmark wants; else a test server that skips fsync.
        self.bindir = bindir
        self.durable = durable
        self.as_root = os.geteuid() == 0
        # Not under pytest's tmp folder, which only root may enter.
        self.base = Path(tempfile.mkdtemp(prefix="covalent-indexer-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"
        self.logfile = self.base / "server.log"
        self.port = 0
        self._names = itertools.count(1)

    # ---- running the binaries ------------------------------------------

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            # setpriv (util-linux) drops to the unprivileged user without a
            # login shell; runuser does the same where setpriv is missing.
            if shutil.which("setpriv"):
                account = pwd.getpwnam(UNPRIVILEGED)
                command = [
                    "setpriv",
                    f"--reuid={account.pw_uid}",
                    f"--regid={account.pw_gid}",
                    "--clear-groups",
                    *command,
                ]
            else:
                command = ["runuser", "-u", UNPRIVILEGED, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.base, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}\n{self.log_tail()}"
            )
        return result

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    # ---- lifecycle --------------------------------------------------------

    def init(self) -> None:
        self.sockets.mkdir()
        password_file = self.base / "password"
        password_file.write_text(PASSWORD + "\n")
        if self.as_root:
            account = pwd.getpwnam(UNPRIVILEGED)
            for path in (self.base, self.sockets, password_file):
                os.chown(path, account.pw_uid, account.pw_gid)
        common = [
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]
        try:
            self._run(*common, "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US")
        except RuntimeError:
            shutil.rmtree(self.data, ignore_errors=True)
            self._run(*common)  # an older server, or one without ICU
        password_file.unlink()

    def start(self) -> None:
        """Start the server: on a free port the first time, then on the same
        one (clients reconnect to where it was)."""
        if not self.data.exists():
            self.init()
        first = not self.port
        for attempt in range(3):
            if first:
                self.port = _free_port()
            try:
                self._start_on_port()
                return
            except RuntimeError:
                if attempt == 2:
                    raise
                time.sleep(0.5)

    def _start_on_port(self) -> None:
        settings = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.sockets}",
            "-c max_connections=200",
        ]
        if not self.durable:
            # A test server: durability against power loss is not needed (a
            # restart by pg_ctl still loses nothing).
            settings += ["-c fsync=off", "-c full_page_writes=off", "-c synchronous_commit=off"]
        options = " ".join(settings)
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60",
            "-o", options,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def restart(self) -> None:
        """Stop (disconnecting every client) and start again on the same port."""
        self.stop()
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    # ---- databases --------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url(), autocommit=True, connect_timeout=10)

    def create_database(self) -> str:
        name = f"test_{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- a Covalent server's database on PostgreSQL ------------------------------


def _pg_type(declared: str) -> str:
    """The PostgreSQL type Covalent's SQLAlchemy models make for a column
    SQLite declares (``DATETIME`` is ``timestamp without time zone``)."""
    declared = declared.upper()
    if declared == "DATETIME":
        return "TIMESTAMP WITHOUT TIME ZONE"
    if declared in ("INTEGER", "BIGINT", "BOOLEAN", "TEXT") or re.fullmatch(
        r"VARCHAR\(\d+\)", declared
    ):
        return declared
    raise AssertionError(f"a column type the loader does not know: {declared}")


def load_into_postgres(sqlite_file: Path, url: str) -> None:
    """Every table of ``sqlite_file`` created in ``url``'s database with the
    same columns and typed values, as Covalent's migrations would make them."""
    source = sqlite3.connect(sqlite_file.absolute().as_uri() + "?mode=ro", uri=True)
    tables = [
        row[0] for row in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    ]
    with psycopg.connect(url) as target:
        for table in tables:
            info = source.execute(f'PRAGMA table_info("{table}")').fetchall()
            columns = [(row[1], _pg_type(row[2])) for row in info]
            ddl = ", ".join(f'"{name}" {kind}' for name, kind in columns)
            target.execute(f'CREATE TABLE "{table}" ({ddl})')
            names = ", ".join(f'"{name}"' for name, _ in columns)
            marks = ", ".join("%s" for _ in columns)
            rows = [
                [_value(value, kind) for value, (_, kind) in zip(row, columns, strict=True)]
                for row in source.execute(f'SELECT {names} FROM "{table}"')
            ]
            if rows:
                with target.cursor() as cursor:
                    cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
    source.close()


def _value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "BOOLEAN":
        return bool(value)
    if kind.startswith("TIMESTAMP"):
        return dt.datetime.fromisoformat(value)
    return value
