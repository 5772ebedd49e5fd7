"""The API the pages read: a dispatch's graph and tasks, the timeline, the
list in other orders, the static files and /docs; on both engines and both
Covalent generations."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dispatch_indexer import DispatchIndex
from dispatch_indexer.http import create_app
from dispatch_indexer.http.pages import STATIC_FILES
from dispatch_indexer.read.taskdetail import SHORTENED, shorten

from ..realdata import (
    ARITH,
    ARITH_240,
    FAILED,
    FAILED_240,
    FIXTURES,
    INNER,
    INNER_240,
    OUTER,
    OUTER_240,
)

pytestmark = pytest.mark.engines
TOKEN = "pages-token"


@pytest.fixture
def client(both: DispatchIndex) -> Iterator[TestClient]:
    with TestClient(create_app(both)) as test_client:
        yield test_client


@pytest.mark.parametrize(("outer", "inner"), [(OUTER, INNER), (OUTER_240, INNER_240)])
def test_the_graph_of_a_workflow_with_a_sub_workflow(
    client: TestClient, both: DispatchIndex, outer: str, inner: str
) -> None:
    graph = client.get(f"/api/v1/dispatches/{outer}/graph").json()
    document = both.result_document(outer)
    nodes = document["graph"]["nodes"]
    assert [t["id"] for t in graph["tasks"]] == [n["id"] for n in nodes]
    assert len(graph["edges"]) == len(document["graph"]["links"])
    assert graph["lattice_name"] == "outer" and graph["status"] == "COMPLETED"
    sub = [t for t in graph["tasks"] if t["kind"] == "sublattice"]
    assert [t["name"] for t in sub] == ["inner"]
    assert sub[0]["sub_dispatch_id"] == inner
    assert {t["name"] for t in graph["tasks"]} >= {"inner", "mul"}
    assert graph["workflow"]["name"] == "outer"
    assert "def outer(x):" in graph["workflow"]["function_string"]
    assert graph["workflow"]["inputs"] == {"x": "5"}
    assert graph["result"] in ("12", 12)
    # The record's own fields: where the folder is now, and where it was.
    record = both.get(outer)
    assert graph["path"] == record.path
    assert graph["pickled_results_dir"] == record.pickled_results_dir != record.results_dir


def test_a_modern_sub_dispatch_links_its_parent(client: TestClient) -> None:
    graph = client.get(f"/api/v1/dispatches/{INNER_240}/graph").json()
    assert graph["parent_dispatch_id"] == OUTER_240


@pytest.mark.parametrize("failed", [FAILED, FAILED_240])
def test_a_failed_task_in_full(client: TestClient, failed: str) -> None:
    graph = client.get(f"/api/v1/dispatches/{failed}/graph").json()
    assert graph["status"] == "FAILED"
    assert "the task failed" in graph["error"]
    task = next(t for t in graph["tasks"] if t["name"] == "fail")
    assert task["status"] == "FAILED"
    assert task["error"].endswith("RuntimeError: the task failed")
    node = client.get(f"/api/v1/dispatches/{failed}/nodes/{task['id']}").json()
    assert "RuntimeError: the task failed" in node["error"]
    assert node["inputs"] == {"msg": "the task failed"}
    assert "def fail(msg):" in node["function_string"]


def test_a_task_says_its_inputs_output_and_logs(client: TestClient, both: DispatchIndex) -> None:
    node = client.get(f"/api/v1/dispatches/{ARITH_240}/nodes/0").json()
    document = both.result_document(ARITH_240)
    shown = next(n for n in document["graph"]["nodes"] if n["id"] == 0)
    assert node["name"] == shown["name"] and node["output"] == shown["output"]
    assert node["stdout"] == shown["stdout"] and node["stderr"] == shown["stderr"]
    assert set(node["inputs"]) == {
        link["edge_name"]
        for link in document["graph"]["links"]
        if link["target"] == 0 and not link["edge_name"].startswith("!")
    }
    assert client.get(f"/api/v1/dispatches/{ARITH}/nodes/0").json()["output"] is not None


def test_unknown_tasks_and_dispatches_are_404(client: TestClient) -> None:
    for path in (
        f"/api/v1/dispatches/{ARITH}/nodes/999",
        f"/api/v1/dispatches/{ARITH}/nodes/x",
        "/api/v1/dispatches/nope/nodes/0",
        "/api/v1/dispatches/nope/graph",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["detail"]


def test_long_texts_are_shortened_with_a_marker() -> None:
    text = "x" * 50 + "END"
    assert shorten(text, 100) == text
    head = shorten(text, 10)
    assert head.startswith("x" * 10) and "shortened: 10 of 53 characters shown" in head
    tail = shorten(text, 10, tail=True)
    assert tail.endswith("END") and SHORTENED.split(":")[0] in tail
    assert shorten({"a": 1}) == '{"a": 1}'


def test_the_timeline_counts_what_the_index_holds(client: TestClient, both: DispatchIndex) -> None:
    response = client.get("/api/v1/stats/timeline", params={"days": 90})
    assert response.status_code == 200, response.text
    timeline = response.json()
    assert timeline["days"] == 90
    first = dt.date.fromisoformat(timeline["first_day"])
    expected: dict[str, Counter[str]] = {}
    durations = 0
    not_started = 0
    for record in both.iterate(limit=None):
        if record.start_time is None:
            not_started += 1
            continue
        if not first <= record.start_time.date() <= dt.date.fromisoformat(timeline["last_day"]):
            continue
        day = record.start_time.astimezone(dt.timezone.utc).date().isoformat()
        expected.setdefault(day, Counter())[record.status or "UNKNOWN"] += 1
        durations += record.end_time is not None
    assert {d["day"]: d["by_status"] for d in timeline["per_day"]} == {
        k: dict(v) for k, v in expected.items()
    }
    assert sum(b["count"] for b in timeline["durations"]) == durations
    assert timeline["not_started"] == not_started
    # The 0.110 fixtures ran in well under 10 s each.
    assert timeline["durations"][0]["count"] + timeline["durations"][1]["count"] == durations
    # A window before every fixture counts nothing.
    long_ago = both.timeline(1, now=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    assert long_ago["per_day"] == [] and long_ago["first_day"] == "2020-01-01"
    for days in (0, 100_000, "x"):
        assert client.get("/api/v1/stats/timeline", params={"days": days}).status_code == 422


@pytest.mark.parametrize("sort", ["start_time", "end_time", "duration", "lattice_name", "status"])
def test_the_list_in_other_orders(client: TestClient, both: DispatchIndex, sort: str) -> None:
    everything = list(both.iterate(limit=None))

    def key(record: object) -> object:
        if sort == "duration":
            start, end = record.start_time, record.end_time  # type: ignore[attr-defined]
            return (end - start).total_seconds() if start and end else None
        return getattr(record, sort)

    for order in ("asc", "desc"):
        page = client.get(
            "/api/v1/dispatches", params={"sort": sort, "order": order, "limit": 100}
        ).json()
        shown = [d["dispatch_id"] for d in page["dispatches"]]
        assert sorted(shown) == sorted(r.dispatch_id for r in everything)
        values = [key(both.get(i)) for i in shown]
        known = [v for v in values if v is not None]
        assert known == sorted(known, reverse=order == "desc")
        # Unknown values sort lowest: first ascending, last descending (a
        # start time: the default order's, by when it was found instead).
        unknown = len(values) - len(known)
        if sort != "start_time":
            assert values[unknown:] == known if order == "asc" else values[: len(known)] == known
        assert page["next_cursor"] is None
    # The library streams every record in that order.
    ordered = [r.dispatch_id for r in both.iterate(sort=sort, order="asc", limit=None)]
    assert ordered == [r.dispatch_id for r in both.list(sort=sort, order="asc", limit=None)]
    assert len(ordered) == len(everything)
    assert client.get("/api/v1/dispatches", params={"sort": "nope"}).status_code == 422
    assert client.get("/api/v1/dispatches", params={"order": "up"}).status_code == 422


def test_covalent_ui_document_says_where_the_folder_is_now(
    client: TestClient, both: DispatchIndex
) -> None:
    document = client.get(f"/api/results/{ARITH}").json()
    record = both.get(ARITH)
    assert document["results_dir"] == record.results_dir
    assert record.pickled_results_dir == "/home/covalent/work-shared/results"
    metadata = document["lattice"]["metadata"]
    assert metadata["results_dir"] == record.results_dir
    # Covalent's UI lists an executor's attributes: a dict, never a string.
    assert metadata["executor"] == {"name": "dask"}
    for node in document["graph"]["nodes"]:
        assert isinstance(node["metadata"].get("executor", {}), dict)
    # Covalent's own server wrote the attributes of its running plugin: a dict too.
    covalent = json.loads((FIXTURES / "covalent_result_dict" / f"{ARITH}.json").read_text())
    assert isinstance(covalent["lattice"]["metadata"]["executor"], dict)


def test_static_files_and_docs_work_offline_without_the_token(both: DispatchIndex) -> None:
    with TestClient(create_app(both, token=TOKEN)) as client:
        for name in STATIC_FILES:
            response = client.get(f"/static/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].startswith(("text/javascript", "text/css"))
            assert b"sourceMappingURL" not in response.content
        assert client.get("/static/../app.py").status_code in (401, 404)
        assert client.get("/static/nope.js").status_code == 404
        assert client.post("/static/common.js").status_code == 401
        # The pages themselves and everything they read need the token.
        for path in ("/", f"/dispatches/{ARITH}", "/docs", f"/api/v1/dispatches/{ARITH}/graph"):
            assert client.get(path).status_code == 401, path
        assert client.get(f"/dispatches/{ARITH}", params={"token": TOKEN}).status_code == 200
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        docs = client.get("/docs", headers=bearer)
        assert docs.status_code == 200
        assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
        assert "cdn" not in docs.text.lower() and "https://" not in docs.text
        for page in ("/", f"/dispatches/{ARITH}", "/docs"):
            response = client.get(page, headers=bearer)
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "default-src 'none'" in policy
            assert "innerHTML" not in response.text


def test_openapi_describes_the_page_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {
        "/api/v1/dispatches/{dispatch_id}/graph",
        "/api/v1/dispatches/{dispatch_id}/nodes/{node_id}",
        "/api/v1/stats/timeline",
    } <= set(schema["paths"])
    names = {p["name"] for p in schema["paths"]["/api/v1/dispatches"]["get"]["parameters"]}
    assert {"sort", "order"} <= names
