"""Notifications from a real daemon: a real command, a real local HTTP
server, exactly once across a restart, history only when asked."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dispatch_indexer import DispatchIndex
from dispatch_indexer import config as config_mod
from dispatch_indexer.cli import app
from dispatch_indexer.notifications import NotifyConfig
from dispatch_indexer.paths import resolve

from ..daemon_helpers import CovalentWriter, DaemonProcess, get, wait_for
from ..realdata import FAILED, FIXTURES

pytestmark = pytest.mark.engines

# Appends what it was given (stdin and environment) as one JSON line.
RECORDER = """\
import json, os, sys
record = json.load(sys.stdin)
line = {
    "id": os.environ["COVALENT_DISPATCH_ID"],
    "status": os.environ["COVALENT_DISPATCH_STATUS"],
    "lattice": os.environ["COVALENT_DISPATCH_LATTICE"],
    "record_id": record["dispatch_id"],
}
with open(sys.argv[1], "a") as out:
    out.write(json.dumps(line) + "\\n")
"""


class Hook:
    """A local HTTP server that answers 500 to its first POST, then 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                if hook.attempts == 1:
                    self.send_response(500)
                else:
                    hook.bodies.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def ids(self) -> list[tuple[str, str]]:
        return [(b["dispatch_id"], b["status"]) for b in self.bodies]


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def configure(*notifiers: NotifyConfig) -> None:
    with DispatchIndex() as index:
        index.config.notify = list(notifiers)
        config_mod.save(index.config, index.paths)


def recorder(tmp_path: Path) -> tuple[list[str], Path]:
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    out = tmp_path / "notified.jsonl"
    return [sys.executable, str(script), str(out)], out


def lines(out: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in out.read_text().splitlines()]
    except FileNotFoundError:
        return []


def sent(out: Path) -> list[tuple[str, str]]:
    return [(line["id"], line["status"]) for line in lines(out)]


def status_json() -> dict[str, Any]:
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_live_final_statuses_fire_once_history_does_not(
    results: Path, writer: CovalentWriter, tmp_path: Path, hook: Hook
) -> None:
    command, out = recorder(tmp_path)
    history, _ = writer.new_dispatch(results)  # finished before the daemon ran
    configure(
        NotifyConfig(statuses=["COMPLETED", "FAILED"], command=command, name="cmd"),
        NotifyConfig(statuses=["COMPLETED"], url=hook.url, name="hook"),
    )
    daemon = DaemonProcess().start()
    try:
        dispatch_id, folder = writer.new_dispatch(results, final=False)
        wait_for(lambda: get(dispatch_id), 10, "the RUNNING record")
        writer.finish(folder)
        wait_for(lambda: (dispatch_id, "COMPLETED") in sent(out), 15, "the command")
        (line,) = lines(out)
        assert line["record_id"] == dispatch_id
        assert line["lattice"] == get(dispatch_id).lattice_name
        # The hook's first answer was a 500: retried, then delivered.
        wait_for(lambda: hook.ids() == [(dispatch_id, "COMPLETED")], 15, "the POST")
        assert hook.attempts == 2
        failed = writer.finished_clone(FIXTURES / "results" / FAILED, results)
        wait_for(lambda: (failed, "FAILED") in sent(out), 15, "the FAILED command")
        wait_for(
            lambda: (
                {n["name"]: n["sent"] for n in status_json()["notifiers"]} == {"cmd": 2, "hook": 1}
            ),
            10,
            "status to show what was sent",
        )
        # Read again (written again): still sent once.
        writer.finish(folder)
        daemon.stop()
        # A restart: the same dispatches are not sent again, a new one is.
        daemon = DaemonProcess().start()
        writer.finish(folder)
        later, _ = writer.new_dispatch(results)
        wait_for(lambda: (later, "COMPLETED") in sent(out), 15, "the command after a restart")
        wait_for(lambda: (later, "COMPLETED") in hook.ids(), 15, "the POST after a restart")
    finally:
        daemon.stop()
    assert sorted(sent(out)) == sorted(
        [(dispatch_id, "COMPLETED"), (failed, "FAILED"), (later, "COMPLETED")]
    )
    assert hook.ids() == [(dispatch_id, "COMPLETED"), (later, "COMPLETED")]
    assert all(found != history for found, _ in sent(out))


def test_on_history_fires_once_across_restarts(
    results: Path, writer: CovalentWriter, tmp_path: Path
) -> None:
    command, out = recorder(tmp_path)
    history, _ = writer.new_dispatch(results)
    failed = writer.finished_clone(FIXTURES / "results" / FAILED, results)
    configure(NotifyConfig(statuses=["COMPLETED"], command=command, on_history=True))
    for _ in range(2):
        daemon = DaemonProcess().start()
        try:
            wait_for(lambda: sent(out) == [(history, "COMPLETED")], 15, "the history")
            wait_for(lambda: status_json()["notifiers"][0]["queued"] == 0, 10, "nothing queued")
        finally:
            daemon.stop()
    assert sent(out) == [(history, "COMPLETED")]
    assert all(found != failed for found, _ in sent(out))


def test_a_failing_command_is_shown_and_the_daemon_carries_on(
    results: Path, writer: CovalentWriter, tmp_path: Path
) -> None:
    failing = tmp_path / "failing.py"
    failing.write_text("import sys\nsys.stderr.write('no display\\n')\nsys.exit(3)\n")
    configure(
        NotifyConfig(statuses=["COMPLETED"], command=[sys.executable, str(failing)], name="bad")
    )
    daemon = DaemonProcess().start()
    try:
        first, _ = writer.new_dispatch(results)
        wait_for(
            lambda: (status_json()["notifiers"] or [{}])[0].get("last_error"),
            15,
            "the error in status",
        )
        (notifier,) = status_json()["notifiers"]
        assert "exited with 3: no display" in notifier["last_error"]
        second, _ = writer.new_dispatch(results)
        wait_for(lambda: get(second), 10, "indexing to go on")
        text = CliRunner().invoke(app, ["status"]).output
        assert "notify bad: 0 sent, last error:" in text
    finally:
        daemon.stop()
    assert get(first) is not None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('statuses = ["FAILED"]', "needs a command, a url or both"),
        ('statuses = []\ncommand = ["x"]', "statuses must be a non-empty list"),
        ('statuses = ["FAILED"]\nurl = "ftp://x"', "url must be an http:// or https:// URL"),
        ('statuses = ["FAILED"]\ncommand = "notify-send"', "command must be a list of strings"),
        ('statuses = ["FAILED"]\ncommand = ["x"]\ncolour = 1', "unknown setting(s) colour"),
        ('statuses = ["FAILED"]\ncommand = ["x"]\ntimeout = 0', "timeout must be a number"),
    ],
)
def test_config_errors_are_one_line(home: Path, table: str, message: str) -> None:
    file = resolve().config_file
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(f"[[notify]]\n{table}\n")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code != 0
    (line,) = [text for text in result.output.splitlines() if text]
    assert line.startswith("covalent-indexer: error: notify #1: ")
    assert message in line


def test_a_notifier_added_to_a_running_daemon_starts_sending(
    results: Path, writer: CovalentWriter, tmp_path: Path
) -> None:
    command, out = recorder(tmp_path)
    daemon = DaemonProcess().start()
    try:
        configure(NotifyConfig(statuses=["COMPLETED"], command=command, name="late"))
        wait_for(lambda: status_json()["notifiers"], 10, "the config to be reloaded")
        dispatch_id, _ = writer.new_dispatch(results)
        wait_for(lambda: sent(out) == [(dispatch_id, "COMPLETED")], 15, "the command")
    finally:
        daemon.stop()
