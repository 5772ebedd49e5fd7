"""``GET /api/v1/dispatches`` with ``text``, ``tag``, ``sort`` and ``order``;
tags, notes and disk use in the API's answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dispatch_indexer import DispatchIndex
from dispatch_indexer.http import create_app

from ..realdata import ARITH, FAILED, HEAVY

pytestmark = pytest.mark.engines


@pytest.fixture
def client(indexed: DispatchIndex) -> Iterator[TestClient]:
    with TestClient(create_app(indexed)) as test_client:
        yield test_client


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["dispatch_id"] for d in response.json()["dispatches"]]


def test_search_tag_and_sort_parameters(client: TestClient, indexed: DispatchIndex) -> None:
    base = "/api/v1/dispatches"
    assert ids(client.get(base, params={"text": "brok"})) == [FAILED]
    assert ids(client.get(base, params={"text": '"Node fail"', "status": "FAILED"})) == [FAILED]
    indexed.tag(ARITH, ["keep"])
    indexed.note(ARITH, "figure 3")
    assert ids(client.get(base, params={"tag": "keep"})) == [ARITH]
    record = client.get(f"{base}/{ARITH}").json()
    assert record["tags"] == ["keep"] and record["note"] == "figure 3"
    assert ids(client.get(base, params={"sort": "size", "limit": 1}))[0] == HEAVY
    first = client.get(base, params={"sort": "duration", "order": "asc", "limit": 3}).json()
    after = client.get(
        base,
        params={"sort": "duration", "order": "asc", "limit": 3, "cursor": first["next_cursor"]},
    )
    everything = ids(client.get(base, params={"sort": "duration", "order": "asc"}))
    assert [d["dispatch_id"] for d in first["dispatches"]] + ids(after) == everything[:6]


@pytest.mark.parametrize(
    "params",
    [{"sort": "colour"}, {"order": "up"}, {"text": "--"}, {"tag": "a b"}],
)
def test_bad_search_or_sort_is_422(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/api/v1/dispatches", params=params)
    assert response.status_code == 422, response.text


def test_stats_show_disk_use(client: TestClient) -> None:
    stats = client.get("/api/v1/stats").json()
    assert sum(stats["bytes_by_host"].values()) > 3_000_000
    assert any(root["bytes"] > 3_000_000 for root in stats["roots"])
