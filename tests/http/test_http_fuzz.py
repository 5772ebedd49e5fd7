"""The HTTP API fuzzed from its own OpenAPI description with schemathesis:
valid and invalid requests for every operation, against an index holding
awkward records, never get a 5xx; traversal and oversized parameters are
refused; a configured token is enforced on every operation; and ``serve``
listens on loopback only unless told otherwise.

schemathesis's pytest plugin is not used (it does not run on pytest 9):
each operation's hypothesis strategy is driven here with ``@given``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from dispatch_indexer import DispatchIndex
from dispatch_indexer.http import create_app

from ..conftest import copy_fixtures
from ..http_helpers import live_server
from ..read.test_safety import result_pickle
from ..realdata import FIXTURES, ROOT_NAMES, SLEEPY

TOKEN = "fuzz-token"
EXAMPLES = 50
OPERATIONS = [
    "GET /healthz",
    "GET /api/v1/dispatches",
    "GET /api/v1/dispatches/{dispatch_id}",
    "GET /api/v1/dispatches/{dispatch_id}/document",
    "GET /api/v1/dispatches/{dispatch_id}/result.pkl",
    "GET /api/v1/dispatches/{dispatch_id}/graph",
    "GET /api/v1/dispatches/{dispatch_id}/nodes/{node_id}",
    "GET /api/v1/stats",
    "GET /api/v1/stats/timeline",
    "GET /metrics",
    "GET /api/results",
    "GET /api/results/{dispatch_id}",
    "DELETE /api/results",
]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DispatchIndex]:
    """The corpus plus records with names that are not UTF-8, lone
    surrogates, an unreadable file and a missing folder; one index for the
    whole module (every test passes it to the application explicitly)."""
    top = tmp_path_factory.mktemp("fuzz")
    corpus = copy_fixtures(top / "corpus")
    root = top / "awkward"
    raw = os.fsencode(root)
    os.makedirs(raw + b"/r\xe9sultats")
    shutil.copytree(FIXTURES / "results" / SLEEPY, os.fsdecode(raw + b"/r\xe9sultats/x"))
    os.makedirs(raw + b"/caf\xe9")
    with open(raw + b"/caf\xe9/result.pkl", "wb") as fh:
        fh.write(b"garbage")
    (root / "surrogates").mkdir()
    (root / "surrogates" / "result.pkl").write_bytes(
        result_pickle("sur\ud800rogate", 2, _error="\udcff\ud800")
    )
    (root / "gone").mkdir()
    (root / "gone" / "result.pkl").write_bytes(result_pickle("gone", 2))
    home = top / "home"
    with DispatchIndex(f"sqlite:///{home}/index.sqlite3", home=home) as index:
        index.config.settle_seconds = 0
        index.add_dirs([*(corpus / name for name in ROOT_NAMES), root])
        index.scan()
        shutil.rmtree(root / "gone")
        index.scan()
        yield index


@pytest.fixture
def api(awkward: DispatchIndex) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(awkward))


def _strategy(schema: schemathesis.BaseSchema, label: str) -> st.SearchStrategy:
    operation = schema[label.split(" ", 1)[1]][label.split(" ", 1)[0]]
    negative = schemathesis.GenerationMode.NEGATIVE
    return operation.as_strategy() | operation.as_strategy(generation_mode=negative)


def test_the_schema_has_these_operations(api: schemathesis.BaseSchema) -> None:
    labels = sorted(result.ok().label for result in api.get_all_operations())
    assert labels == sorted(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzzed_requests_never_get_a_server_error(api: schemathesis.BaseSchema, label: str) -> None:
    @FUZZ
    @given(case=_strategy(api, label))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    run()


@pytest.mark.parametrize("label", OPERATIONS)
def test_the_token_is_enforced_on_every_operation(awkward: DispatchIndex, label: str) -> None:
    # The application with a token serves its schema only with the token.
    schema = schemathesis.openapi.from_dict(create_app(awkward).openapi())
    schema.app = create_app(awkward, token=TOKEN)

    @settings(FUZZ, max_examples=15)
    @given(case=_strategy(schema, label))
    def run(case: schemathesis.Case) -> None:
        without = case.call()
        assert without.status_code == 401, (case.as_curl_command(), without.text)
        wrong = case.call(headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 401
        right = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code < 500, (case.as_curl_command(), right.text)

    run()


@pytest.fixture
def base_url(awkward: DispatchIndex) -> Iterator[str]:
    with live_server(create_app(awkward)) as url:
        yield url


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/dispatches/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/v1/dispatches/%2e%2e",
        "/api/v1/dispatches/%2e%2e/result.pkl",
        "/api/v1/dispatches/..%5C..%5Cwindows",
        "/api/v1/dispatches/%00",
        "/api/v1/dispatches/a%00b/document",
        "/api/v1/dispatches/%ff%fe",
        "/api/v1/dispatches/" + "x" * 5000,
        "/api/v1/dispatches/" + "%C3%A9" * 200,
        "/api/results/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/dispatches/../../../../etc/passwd",
    ],
)
def test_traversal_and_odd_ids_on_a_real_socket(base_url: str, path: str) -> None:
    # Sent as written (no client-side normalisation of "..").
    with httpx2.Client(base_url=base_url) as client:
        response = client.send(client.build_request("GET", base_url + path))
    assert response.status_code in (400, 404), (path, response.status_code, response.text)
    assert "root:" not in response.text


@pytest.mark.parametrize(
    "query",
    [
        {"text": "x" * 5000},
        {"results_dir": "/" + "a" * 5000},
        {"lattice_name": "n" * 5000},
        {"cursor": "c" * 5000},
        {"since": "9" * 5000},
        {"limit": "10001"},
        {"limit": "99999999999999999999999999"},
        {"status": ["S"] * 100},
        {"text": "a\x00b"},
    ],
    ids=lambda q: next(iter(q)),
)
def test_oversized_or_bad_parameters_are_refused(base_url: str, query: dict) -> None:
    response = httpx2.get(f"{base_url}/api/v1/dispatches", params=query)
    assert response.status_code == 422, (query, response.status_code, response.text[:300])


def test_an_enormous_request_line_is_refused(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    line = b"GET /api/v1/dispatches?text=" + b"y" * 200_000 + b" HTTP/1.1\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        with contextlib.suppress(OSError):  # the server may hang up mid-send
            sock.sendall(line + b"Host: 127.0.0.1\r\n\r\n")
        answer = sock.recv(200)
    # Refused with a 4xx, or the connection closed unanswered: never a 5xx.
    assert answer == b"" or answer.split()[1].startswith(b"4"), answer


def _listening(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port``, from /proc."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(_address(address, width))
    return found


def _address(hex_address: str, width: int) -> str:
    raw = bytes.fromhex(hex_address)
    if width == 8:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    return str(ipaddress.IPv6Address(b"".join(words)))


def test_serve_listens_on_loopback_only_by_default(index: DispatchIndex) -> None:
    serve = subprocess.Popen(
        [sys.executable, "-m", "dispatch_indexer", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = serve.stdout.readline()
        port = int(line.split(" on ")[1].split()[0].rstrip("/").rsplit(":", 1)[1])
        assert _listening(port) == {"127.0.0.1"}
        assert httpx2.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        # Reached by another name for the same address: refused (DNS rebinding).
        other = httpx2.get(f"http://127.0.0.1:{port}/healthz", headers={"Host": "evil.example"})
        assert other.status_code == 400
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(10) == 0
    refused = subprocess.run(
        [sys.executable, "-m", "dispatch_indexer", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if k != "COVALENT_INDEXER_TOKEN"},
    )
    assert refused.returncode == 2
    assert "without a token" in refused.stderr
