"""The HTTP API: every endpoint, its errors, its token, and a live socket."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dispatch_indexer import DispatchIndex
from dispatch_indexer.cli import app as cli_app
from dispatch_indexer.config import Config
from dispatch_indexer.errors import BadInputError, ConfigError
from dispatch_indexer.http import TOKEN_ENV, create_app, resolve_settings
from dispatch_indexer.http.responses import JSON
from dispatch_indexer.http.settings import is_loopback
from dispatch_indexer.records import DispatchRecord
from dispatch_indexer.store.query import MAX_LIMIT

from ..http_helpers import live_server
from ..realdata import ARITH, ARITH_AGAIN, FAILED, INNER_240, OUTER_240

TOKEN = "s3cret-token"


@pytest.fixture
def client(indexed: DispatchIndex) -> Iterator[TestClient]:
    with TestClient(create_app(indexed)) as test_client:
        yield test_client


def ids(response: httpx2.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["dispatch_id"] for d in response.json()["dispatches"]]


def roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# ---- /api/v1/dispatches ------------------------------------------------------


def test_list_is_the_library_listing(client: TestClient, indexed: DispatchIndex) -> None:
    response = client.get("/api/v1/dispatches")
    body = response.json()
    assert response.headers["content-type"] == "application/json"
    assert set(body) == {"dispatches", "next_cursor", "search_incomplete"}
    assert body["next_cursor"] is None
    expected = indexed.list()
    assert ids(response) == [r.dispatch_id for r in expected]
    assert len(expected) == 11
    assert body["dispatches"] == roundtrip([r.list_json() for r in expected])
    assert all(tuple(d) == DispatchRecord.LIST_KEYS for d in body["dispatches"])


def test_filters(client: TestClient, corpus: Path) -> None:
    get = client.get
    assert ids(get("/api/v1/dispatches", params={"status": "FAILED"})) == [FAILED]
    both = get("/api/v1/dispatches", params=[("status", "failed"), ("status", "NEW_OBJECT")])
    assert {d["status"] for d in both.json()["dispatches"]} == {"FAILED", "NEW_OBJECT"}
    assert set(ids(get("/api/v1/dispatches", params={"lattice_name": "arith"}))) == {
        ARITH,
        ARITH_AGAIN,
        "never-dispatched-shared",
    }
    nested = get("/api/v1/dispatches", params={"results_dir": str(corpus / "results-alt")})
    assert [d["lattice_name"] for d in nested.json()["dispatches"]] == ["elsewhere"]
    assert ids(get("/api/v1/dispatches", params={"text": "task failed"})) == [FAILED]
    late = get("/api/v1/dispatches", params={"since": "2026-11-24T22:59:05.4Z"}).json()
    assert late["dispatches"]
    early = get("/api/v1/dispatches", params={"until": "2026-11-24T22:59:04.47"}).json()
    assert {d["lattice_name"] for d in early["dispatches"]} == {"arith", "broken"}


def test_missing_can_be_left_out(client: TestClient, indexed: DispatchIndex, corpus: Path) -> None:
    shutil.rmtree(corpus / "results" / ARITH)
    indexed.scan()
    everything = ids(client.get("/api/v1/dispatches"))
    present = ids(client.get("/api/v1/dispatches", params={"include_missing": "false"}))
    assert ARITH in everything
    assert ARITH not in present
    assert len(present) == len(everything) - 1


def test_cursor_paging(client: TestClient, indexed: DispatchIndex) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/dispatches", params=params).json()
        assert len(body["dispatches"]) <= 4
        seen += [d["dispatch_id"] for d in body["dispatches"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [r.dispatch_id for r in indexed.list()]


BAD_PARAMETERS: list[dict[str, Any]] = [
    {"cursor": "not-a-cursor"},
    {"cursor": base64.urlsafe_b64encode(b'["yesterday", 3]').decode()},
    {"cursor": "x" * 5000},
    {"limit": "0"},
    {"limit": "-1"},
    {"limit": "many"},
    {"limit": str(MAX_LIMIT + 1)},
    {"since": "yesterday"},
    {"until": "2026-13-45"},
    {"include_missing": "perhaps"},
    {"text": "x" * 1001},
    {"lattice_name": "a\x00b"},
    {"results_dir": "/tmp/\x00"},
    {"status": ["S"] * 40},
]


def test_bad_parameters_are_422(client: TestClient) -> None:
    for params in BAD_PARAMETERS:
        response = client.get("/api/v1/dispatches", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["detail"]


# ---- one dispatch ------------------------------------------------------------


def test_one_dispatch_in_full(client: TestClient, indexed: DispatchIndex) -> None:
    response = client.get(f"/api/v1/dispatches/{FAILED}")
    assert response.status_code == 200
    record = response.json()
    assert record == roundtrip(indexed.get(FAILED).to_json())
    assert record["status"] == "FAILED"
    assert "the task failed" in record["error"]
    assert record["nodes"]


def test_a_dispatch_says_its_origin_parent_and_covalent_state(
    index: DispatchIndex, covalent_server: Path
) -> None:
    with sqlite3.connect(covalent_server / "dispatcher_db.sqlite") as conn:
        conn.execute("UPDATE lattices SET is_active = 0 WHERE dispatch_id = ?", (INNER_240,))
    index.add_dirs([covalent_server / "data"])
    index.scan()
    with TestClient(create_app(index)) as test_client:
        record = test_client.get(f"/api/v1/dispatches/{INNER_240}").json()
        listed = test_client.get("/api/v1/dispatches").json()["dispatches"]
    assert record["origin"] == "covalent-db"
    assert (record["parent_dispatch_id"], record["parent_node_id"]) == (OUTER_240, 0)
    # Soft-deleted in Covalent's UI: marked, still listed with its status.
    assert (record["covalent_state"], record["status"]) == ("deleted", "COMPLETED")
    assert {d["dispatch_id"]: d["origin"] for d in listed}[INNER_240] == "covalent-db"


def test_document(client: TestClient, indexed: DispatchIndex) -> None:
    response = client.get(f"/api/v1/dispatches/{ARITH}/document")
    assert response.status_code == 200
    document = response.json()
    assert document == roundtrip(indexed.result_document(ARITH))
    assert document["dispatch_id"] == ARITH
    assert document["status"] == "COMPLETED"


def test_result_pkl_is_the_file(client: TestClient, corpus: Path) -> None:
    response = client.get(f"/api/v1/dispatches/{ARITH}/result.pkl")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="{ARITH}-result.pkl"'
    )
    assert response.content == (corpus / "results" / ARITH / "result.pkl").read_bytes()


@pytest.mark.parametrize("suffix", ["", "/document", "/result.pkl"])
def test_unknown_ids_are_404(client: TestClient, suffix: str) -> None:
    response = client.get(f"/api/v1/dispatches/no-such-dispatch{suffix}")
    assert response.status_code == 404
    assert "no-such-dispatch" in response.json()["detail"]


ODD_PATHS = [
    "/api/v1/dispatches/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/v1/dispatches/..%2F..%2Fetc%2Fpasswd/result.pkl",
    "/api/v1/dispatches/%2e%2e",
    "/api/v1/dispatches/%2e%2e/document",
    "/api/v1/dispatches/..",
    "/api/v1/dispatches/../../../etc/passwd",
    "/api/v1/dispatches/%00",
    "/api/v1/dispatches/x%00y/result.pkl",
    "/api/v1/dispatches/" + "a" * 300,
    "/api/v1/dispatches/" + "a" * 20_000 + "/document",
    "/api/v1/dispatches/%ff%fe%fd",
    "/api/v1/dispatches/%27%20OR%201%3D1%20--",
    "/api/v1/dispatches/%22%3Cscript%3E/result.pkl",
    "/api/results/..%2F..%2Fetc%2Fpasswd",
    "/api/results/%00",
    "/api/results/" + "b" * 300,
]


def test_odd_ids_never_500(client: TestClient) -> None:
    for path in ODD_PATHS:
        response = client.get(path)
        assert response.status_code in (400, 404, 422), (path, response.status_code)
        assert response.headers["content-type"] == "application/json"


def test_odd_ids_never_500_on_a_real_socket(indexed: DispatchIndex) -> None:
    # http.client sends the path exactly as written: no normalising of ".." here.
    with live_server(create_app(indexed)) as base:
        port = int(base.rsplit(":", 1)[1])
        for path in ODD_PATHS:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
            finally:
                connection.close()
            assert response.status in (400, 404, 422), (path, response.status)


# ---- service endpoints ----------------------------------------------------------


@pytest.mark.sqlite_only
def test_stats(client: TestClient, indexed: DispatchIndex, corpus: Path) -> None:
    stats = client.get("/api/v1/stats").json()
    assert stats["by_status"] == indexed.counts()
    assert stats["by_status"]["FAILED"] == 1
    assert stats["total"] == sum(indexed.counts().values()) == 11
    assert {r["path"] for r in stats["roots"]} == {
        str((corpus / name).resolve()) for name in ("results", "results-alt", "snapshots")
    }
    assert sum(r["records"] for r in stats["roots"]) == 11
    assert stats["daemon"] == {"running": False, "pid": None}
    assert stats["database"].startswith("sqlite:///")


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert client.head("/healthz").status_code == 200
    assert client.head("/").status_code == 200


def test_openapi_lists_the_paths(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {
        "/healthz",
        "/api/v1/dispatches",
        "/api/v1/dispatches/{dispatch_id}",
        "/api/v1/dispatches/{dispatch_id}/document",
        "/api/v1/dispatches/{dispatch_id}/result.pkl",
        "/api/v1/stats",
        "/api/results",
        "/api/results/{dispatch_id}",
    } <= set(schema["paths"])
    assert "delete" in schema["paths"]["/api/results"]
    names = {p["name"] for p in schema["paths"]["/api/v1/dispatches"]["get"]["parameters"]}
    assert {"status", "since", "until", "limit", "cursor", "include_missing"} <= names
    assert client.get("/docs").status_code == 200


def test_status_page_is_served_with_a_strict_policy(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe" not in policy
    # Scripts only from this server, none inline.
    assert re.search(r"<script>", response.text) is None
    for src in re.findall(r'<script src="([^"]+)"', response.text):
        assert src.startswith("/static/")
        assert client.get(src).status_code == 200
    assert 'id="dispatches"' in response.text
    script = client.get("/static/list.js").text + client.get("/static/common.js").text
    assert "innerHTML" not in script  # data only ever goes in as text


# ---- Covalent's UI server ---------------------------------------------------------


def test_covalent_results(client: TestClient, indexed: DispatchIndex) -> None:
    response = client.get("/api/results")
    assert response.status_code == 200
    documents = response.json()
    assert isinstance(documents, list)
    assert [d["dispatch_id"] for d in documents] == [r.dispatch_id for r in indexed.list()]
    one = client.get(f"/api/results/{ARITH}")
    assert one.status_code == 200
    assert one.json() == roundtrip(indexed.result_document(ARITH))
    unknown = client.get("/api/results/no-such-dispatch")
    assert unknown.status_code == 400  # what Covalent's own server answers
    assert "no-such-dispatch" in unknown.json()["detail"]


def test_delete_hides_without_deleting_files(
    client: TestClient, indexed: DispatchIndex, corpus: Path
) -> None:
    before = ids(client.get("/api/v1/dispatches"))
    response = client.request(
        "DELETE", "/api/results", json={"dispatchIds": [ARITH, FAILED, "no-such-dispatch"]}
    )
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["hidden"] == 2
    after = ids(client.get("/api/v1/dispatches"))
    assert after == [i for i in before if i not in (ARITH, FAILED)]
    documents = client.get("/api/results").json()
    assert {ARITH, FAILED}.isdisjoint(d["dispatch_id"] for d in documents)
    assert len(documents) == len(before) - 2
    assert client.get("/api/v1/stats").json()["total"] == len(before) - 2
    assert (corpus / "results" / ARITH / "result.pkl").exists()
    assert (corpus / "results" / FAILED / "result.pkl").exists()
    # An empty request, as Covalent's server takes it, hides nothing.
    assert client.request("DELETE", "/api/results", json={}).json() == {"ok": True, "hidden": 0}
    assert client.request("DELETE", "/api/results").status_code == 200
    odd = {"dispatchIds": ["a\x00b", "../..", "x" * 300, ""]}
    assert client.request("DELETE", "/api/results", json=odd).json() == {"ok": True, "hidden": 0}
    assert ids(client.get("/api/v1/dispatches")) == after


BAD_BODIES: list[bytes] = [
    b'{"dispatchIds": "abc"}',
    b'{"dispatchIds": [1, 2]}',
    b'{"dispatchIds": [null]}',
    b"[1, 2, 3]",
    b"{not json",
    json.dumps({"dispatchIds": ["x" * 2000]}).encode(),
    json.dumps({"dispatchIds": ["a"] * 10_001}).encode(),
]


def test_delete_with_a_bad_body_is_422(client: TestClient) -> None:
    for body in BAD_BODIES:
        response = client.request(
            "DELETE", "/api/results", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (body[:80], response.text)
    assert len(ids(client.get("/api/v1/dispatches"))) == 11


def test_oversized_bodies_are_refused(client: TestClient) -> None:
    big = json.dumps({"dispatchIds": ["a" * 1000] * 2000}).encode()
    response = client.request(
        "DELETE", "/api/results", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


# ---- the token, the host, the bind ----------------------------------------------

PROTECTED = [
    "/",
    "/healthz",
    "/openapi.json",
    "/docs",
    "/api/v1/dispatches",
    f"/api/v1/dispatches/{ARITH}",
    f"/api/v1/dispatches/{ARITH}/result.pkl",
    "/api/v1/stats",
    "/api/results",
    "/api/v1/no-such-route",
]


def test_token_is_required_everywhere(indexed: DispatchIndex) -> None:
    with TestClient(create_app(indexed, token=TOKEN)) as client:
        for path in PROTECTED:
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": f"Bearer {TOKEN}x"},
                {"Authorization": f"Basic {TOKEN}"},
                {"Authorization": "Bearer"},
            ):
                response = client.get(path, headers=headers)
                assert response.status_code == 401, (path, headers)
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert "token" in response.json()["detail"]
            good = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert good.status_code != 401, path
        assert (
            client.request("DELETE", "/api/results", json={"dispatchIds": [ARITH]}).status_code
            == 401
        )
        assert ARITH in ids(
            client.get("/api/v1/dispatches", headers={"Authorization": f"Bearer {TOKEN}"})
        )
        # The page (only the page) may be opened once with ?token=.
        assert client.get("/", params={"token": TOKEN}).status_code == 200
        assert client.get("/", params={"token": "wrong"}).status_code == 401
        assert client.get("/api/v1/stats", params={"token": TOKEN}).status_code == 401


def test_token_on_a_real_socket(indexed: DispatchIndex) -> None:
    with live_server(create_app(indexed, token=TOKEN)) as base:
        assert httpx2.get(f"{base}/healthz").status_code == 401
        response = httpx2.get(
            f"{base}/api/v1/dispatches/{ARITH}/result.pkl",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 200
        assert response.content == indexed.result_bytes(ARITH)


def test_unexpected_host_is_refused(indexed: DispatchIndex) -> None:
    app = create_app(indexed, allowed_hosts=["127.0.0.1", "localhost", "::1"])
    with TestClient(app, base_url="http://127.0.0.1:48010") as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/healthz", headers={"Host": "localhost:48010"}).status_code == 200
        assert client.get("/healthz", headers={"Host": "[::1]:48010"}).status_code == 200
        rebound = client.get("/api/v1/dispatches", headers={"Host": "evil.example:48010"})
        assert rebound.status_code == 400


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config(http_host="127.0.0.1", http_port=5000, http_token="from-config")
    assert resolve_settings(config, environ={}).token == "from-config"
    assert resolve_settings(config, environ={TOKEN_ENV: "from-env"}).token == "from-env"
    chosen = resolve_settings(config, port=0, token="from-flag", environ={TOKEN_ENV: "from-env"})
    assert (chosen.host, chosen.port, chosen.token) == ("127.0.0.1", 0, "from-flag")
    assert resolve_settings(Config(), environ={}).port == 48010
    assert resolve_settings(Config(), environ={}).host == "127.0.0.1"
    assert resolve_settings(Config(), host="0.0.0.0", token="t", environ={}).host == "0.0.0.0"
    for host in ("0.0.0.0", "::", "192.168.1.10", ""):
        with pytest.raises(BadInputError):
            resolve_settings(Config(), host=host, environ={})
    with pytest.raises(BadInputError):
        resolve_settings(Config(), port=70000, environ={})
    assert is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0")
    with pytest.raises(ConfigError):
        Config(http_port=0).validate()
    with pytest.raises(ConfigError):
        Config(http_token="").validate()


def test_serve_refuses_a_public_bind_without_a_token(index: DispatchIndex) -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("covalent-indexer: error: refusing to listen on 0.0.0.0")
    assert "token" in lines[0]


def _start_cli_server(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "dispatch_indexer", "--home", str(home), "serve", *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
    if match is None:
        process.kill()
        raise AssertionError(
            f"serve did not start: {line!r} {process.stderr.read() if process.stderr else ''}"
        )
    return process, match.group(1)


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGINT) -> int:
    """Stop it as Ctrl-C (or systemd, with SIGTERM) would; its exit code."""
    process.send_signal(sig)
    try:
        return process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()


def test_cli_serve_with_a_token_from_the_environment(indexed: DispatchIndex, home: Path) -> None:
    process, base = _start_cli_server(home, "--port", "0", env={TOKEN_ENV: TOKEN})
    try:
        assert httpx2.get(f"{base}/healthz").status_code == 401
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx2.get(f"{base}/healthz", headers=headers).json() == {"status": "ok"}
        listed = httpx2.get(f"{base}/api/v1/dispatches", headers=headers)
        assert len(listed.json()["dispatches"]) == 11
    finally:
        assert _stop(process) == 0


def test_cli_serve_without_a_token_checks_the_host(indexed: DispatchIndex, home: Path) -> None:
    process, base = _start_cli_server(home, "--port", "0")
    try:
        assert httpx2.get(f"{base}/api/v1/stats").json()["total"] == 11
        rebound = httpx2.get(f"{base}/healthz", headers={"Host": "attacker.example"})
        assert rebound.status_code == 400
    finally:
        assert _stop(process, signal.SIGTERM) == 0


def test_port_in_use_is_one_clear_error(index: DispatchIndex) -> None:
    with live_server(create_app(index)) as base:
        port = base.rsplit(":", 1)[1]
        result = CliRunner().invoke(cli_app, ["serve", "--port", port])
    assert result.exit_code == 1
    assert result.output.startswith(f"covalent-indexer: error: cannot listen on 127.0.0.1:{port}")


# ---- robustness ----------------------------------------------------------------


def test_non_finite_numbers_still_render() -> None:
    rendered = JSON({"a": float("nan"), "b": [float("inf")], "c": 1.5}).body
    assert json.loads(rendered) == {"a": "NaN", "b": ["Infinity"], "c": 1.5}


def test_concurrent_requests_leave_no_connection_open(indexed: DispatchIndex) -> None:
    database = str(indexed.paths.database_file)

    def open_handles() -> int:
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}").startswith(database):
                    count += 1
            except OSError:
                continue
        return count

    # With no other connection open in this process, SQLite closes a file as
    # soon as its connection closes: what stays open after the requests leaked.
    indexed.close()
    assert open_handles() == 0
    with live_server(create_app(indexed)) as base:
        errors: list[BaseException] = []

        def hammer() -> None:
            try:
                with httpx2.Client(base_url=base) as http:
                    for _ in range(5):
                        assert (
                            http.get("/api/v1/dispatches", params={"limit": 3}).status_code == 200
                        )
                        assert http.get(f"/api/v1/dispatches/{ARITH}").status_code == 200
                        assert http.get("/api/v1/stats").status_code == 200
                        assert http.get("/api/results").status_code == 200
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        assert open_handles() == 0
