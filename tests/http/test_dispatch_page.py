"""The dispatch page and the list page's sorting and charts, as a person
sees them: a live server on the real fixtures of both Covalent generations,
in headless Chromium (``browser_helpers``). Screenshots go to
``tmp_path/screenshots``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from dispatch_indexer import DispatchIndex
from dispatch_indexer.corpus import clone
from dispatch_indexer.http import create_app
from dispatch_indexer.read.taskdetail import short_name

from ..browser_helpers import Browser, browser, needs_chromium, wait_for
from ..http_helpers import live_server
from ..realdata import (
    ARITH,
    FAILED,
    FAILED_240,
    FIXTURES,
    INNER,
    INNER_240,
    OUTER,
    OUTER_240,
    RUNNING_DB_240,
    SLEEPY_240,
)
from .synthetic import add_workflow

pytestmark = needs_chromium
__all__ = ["browser"]  # the fixture, used by name

LOUD_240 = "74b67f1a-4f8c-4f98-a019-5f0b7acb0c67"  # "loud": its task prints "hello"
HOSTILE = '<img src=x onerror="window.pwned=1">'
READY = "window.CIPage && window.CIPage.ready && window.CIPage"
NODES = """Array.from(document.querySelectorAll('#graph .node')).map(g => ({
  id: g.dataset.id, label: g.querySelector('.label').textContent,
  title: g.querySelector('title').textContent,
  sub: (g.querySelector('a.sub-link') || {getAttribute: () => null}).getAttribute('href'),
}))"""
ROWS = """Array.from(document.querySelectorAll('#dispatches tbody tr')).map(tr => ({
  id: tr.dataset.id, workflow: tr.querySelector('.workflow').textContent,
  status: tr.querySelector('.status').firstChild.textContent,
}))"""


@pytest.fixture
def base(both: DispatchIndex) -> Iterator[str]:
    with live_server(create_app(both)) as url:
        yield url


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


def open_dispatch(browser: Browser, base: str, dispatch_id: str) -> dict[str, Any]:
    browser.goto(f"{base}/dispatches/{dispatch_id}")
    return browser.wait_ready(READY)


def click_task(browser: Browser, task_id: object) -> None:
    browser.js(
        "document.querySelector('#graph .node[data-id=\"' + "
        f"{json.dumps(str(task_id))}"
        " + '\"]').dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )


@pytest.mark.parametrize(("outer", "inner"), [(OUTER, INNER), (OUTER_240, INNER_240)])
def test_a_workflow_with_a_sub_workflow(
    both: DispatchIndex, base: str, browser: Browser, shots: Path, outer: str, inner: str
) -> None:
    browser.viewport(1280, 800)
    page = open_dispatch(browser, base, outer)
    document = both.result_document(outer)
    names = {n["id"]: n["name"] for n in document["graph"]["nodes"]}
    shapes = browser.js(NODES)
    # One shape per task, each named.
    assert page["tasks"] == len(names) == len(shapes)
    assert sorted(s["id"] for s in shapes) == sorted(str(i) for i in names)
    for shape in shapes:
        full = short_name(names[int(shape["id"])])
        assert full in shape["title"]
        assert shape["label"].rstrip("…") in full
    assert browser.js("document.querySelectorAll('#graph .edges path').length") == len(
        document["graph"]["links"]
    )
    assert browser.js("document.getElementById('workflow').textContent") == "outer"
    subs = [s["sub"] for s in shapes if s["sub"]]
    assert subs == [f"/dispatches/{inner}"]
    assert "def outer(x):" in browser.js("document.getElementById('workflow-fields').innerText")
    browser.screenshot(shots / f"outer-{outer[:8]}.png", full_page=True)
    # The sub-workflow is one click away.
    browser.js("document.querySelector('#graph a.sub-link').dispatchEvent(new MouseEvent('click'))")
    wait_for(lambda: browser.js("location.pathname") == f"/dispatches/{inner}", what="the sub")
    browser.wait_ready(READY)
    assert browser.js("document.getElementById('workflow').textContent") == "inner"
    if outer == OUTER_240:  # Covalent's database links the sub-dispatch to its parent
        assert not browser.js("document.getElementById('parent').hidden")
        assert outer in browser.js("document.getElementById('parent').textContent")


@pytest.mark.parametrize("failed", [FAILED, FAILED_240])
def test_the_failed_dispatch_shows_its_error(
    base: str, browser: Browser, shots: Path, failed: str
) -> None:
    open_dispatch(browser, base, failed)
    assert browser.js("document.getElementById('status').textContent") == "FAILED"
    assert not browser.js("document.getElementById('dispatch-error-box').hidden")
    assert "the task failed" in browser.js("document.getElementById('dispatch-error').textContent")
    row = browser.js(
        "Array.from(document.querySelectorAll('#tasks tbody tr')).map(tr => tr.innerText)"
        ".find(t => t.includes('fail'))"
    )
    assert "FAILED" in row and "RuntimeError: the task failed" in row
    task = browser.js("document.querySelector('#graph .node.status-FAILED').dataset.id")
    click_task(browser, task)
    error = wait_for(
        lambda: browser.js("(document.getElementById('task-error') || {}).innerText"),
        what="the task's error",
    )
    assert "RuntimeError: the task failed" in error
    browser.screenshot(shots / f"failed-{failed[:8]}.png", full_page=True)


def test_a_tasks_stdout_shows_when_clicked(base: str, browser: Browser) -> None:
    open_dispatch(browser, base, LOUD_240)
    assert browser.js("document.getElementById('task-detail').hidden")
    click_task(browser, 0)
    stdout = wait_for(
        lambda: browser.js("(document.getElementById('task-stdout') || {}).innerText"),
        what="stdout",
    )
    assert "hello" in stdout
    # A click on a row of the table does the same.
    open_dispatch(browser, base, ARITH)
    browser.js("document.querySelector('#tasks tbody tr').click()")
    wait_for(lambda: not browser.js("document.getElementById('task-detail').hidden"))
    assert "stdout" in browser.js("document.getElementById('task-fields').innerText")
    assert "Inputs" in browser.js("document.getElementById('task-fields').innerText")


def test_a_click_on_a_column_header_sorts(both: DispatchIndex, base: str, browser: Browser) -> None:
    browser.goto(base + "/")
    total = len(list(both.iterate(limit=None)))
    wait_for(lambda: len(browser.js(ROWS)) == min(total, 50), what="the rows")

    def sorted_by_workflow(order: str) -> list[dict[str, Any]] | None:
        shown = browser.js(ROWS)
        names = [r["workflow"] for r in shown]
        wanted = sorted(names, reverse=order == "desc")
        return shown if len(shown) == total and names == wanted else None

    header = "document.querySelector('#dispatches th[data-sort=\"lattice_name\"] button').click()"
    browser.js(header)
    shown = wait_for(lambda: sorted_by_workflow("asc"), what="ascending workflows")
    expected = both.list(sort="lattice_name", order="asc", limit=None)
    assert [r["id"] for r in shown] == [r.dispatch_id for r in expected]
    sort_state = "document.querySelector('#dispatches th[data-sort=\"lattice_name\"]')"
    assert browser.js(sort_state + ".getAttribute('aria-sort')") == "ascending"
    browser.js(header)
    wait_for(lambda: sorted_by_workflow("desc"), what="descending workflows")
    assert browser.js(sort_state + ".getAttribute('aria-sort')") == "descending"
    # Rows link to their dispatch's page.
    href = browser.js("document.querySelector('#dispatches tbody td.id a').getAttribute('href')")
    assert href == f"/dispatches/{shown[-1]['id']}" or href.startswith("/dispatches/")


def test_the_charts_count_what_the_index_holds(
    both: DispatchIndex, base: str, browser: Browser, shots: Path
) -> None:
    browser.viewport(1280, 800)
    browser.goto(base + "/")
    bars = wait_for(
        lambda: browser.js(
            "Object.fromEntries(Array.from(document.querySelectorAll('#chart-days-svg g.day'))"
            ".filter(g => g.dataset.total !== '0').map(g => [g.dataset.day,"
            " Object.fromEntries(Array.from(g.querySelectorAll('rect[data-status]'))"
            ".map(r => [r.dataset.status, Number(r.dataset.count)]))]))"
        ),
        what="the chart",
    )
    timeline = both.timeline(90)
    assert bars == {d["day"]: d["by_status"] for d in timeline["per_day"]}
    assert browser.js("document.querySelectorAll('#chart-days-svg g.day').length") == 90
    counted: dict[str, dict[str, int]] = {}
    for record in both.iterate(limit=None):
        if record.start_time is not None:
            day = counted.setdefault(record.start_time.date().isoformat(), {})
            day[record.status] = day.get(record.status, 0) + 1
    assert bars == counted  # every fixture ran within the last 90 days
    buckets = browser.js(
        "Array.from(document.querySelectorAll('#chart-durations-svg g.bucket'))"
        ".map(g => Number(g.dataset.count))"
    )
    assert buckets == [b["count"] for b in timeline["durations"]]
    browser.screenshot(shots / "list.png")


def test_a_500_task_workflow_renders_within_2_seconds(
    both: DispatchIndex, covalent_server: Path, browser: Browser, shots: Path
) -> None:
    wide = add_workflow(covalent_server, 500)
    both.scan()
    with live_server(create_app(both)) as url:
        browser.viewport(1280, 800)
        page = open_dispatch(browser, url, wide)
        # Measured in the page: from the graph's data in hand to drawn and laid out.
        assert page["tasks"] == 500
        assert page["renderMs"] < 2000, page
        assert browser.js("document.querySelectorAll('#graph .node').length") == 500
        assert browser.js("document.querySelectorAll('#tasks tbody tr').length") == 500
        # Too wide to read whole: it opens at a readable scale on its first
        # task; "Fit" shows it all.
        view = "document.getElementById('graph').getAttribute('viewBox').split(' ').map(Number)"
        width = "document.getElementById('graph').getBoundingClientRect().width"
        first = browser.js(view)
        assert browser.js(width) / first[2] >= 0.8
        in_view = browser.js(
            "(() => { const s = document.getElementById('graph').getBoundingClientRect();"
            " const n = document.querySelector('#graph .node[data-id=\"0\"]')"
            ".getBoundingClientRect();"
            " return n.left >= s.left && n.right <= s.right && n.top >= s.top; })()"
        )
        assert in_view
        browser.js("document.getElementById('fit').click()")
        whole = browser.js(view)
        assert whole[2] > 5 * first[2]
        browser.js("document.getElementById('zoom-in').click()")
        assert browser.js(view)[2] < whole[2]
        browser.screenshot(shots / "wide.png")


def test_hostile_names_and_errors_stay_text(
    both: DispatchIndex, covalent_server: Path, corpus: Path, browser: Browser
) -> None:
    odd = add_workflow(
        covalent_server, 3, name=HOSTILE, task_name=HOSTILE, error=HOSTILE + "\nboom"
    )
    folder = clone(FIXTURES / "results" / ARITH, corpus / "results", new_id=HOSTILE[:36])
    both.scan()
    with live_server(create_app(both)) as url:
        for dispatch_id in (odd, folder.name):
            browser.goto(f"{url}/dispatches/{quote(dispatch_id, safe='')}")
            browser.wait_ready(READY)
            assert browser.js("document.querySelectorAll('img').length") == 0
            assert browser.js("window.pwned === undefined")
        browser.goto(f"{url}/dispatches/{odd}")
        browser.wait_ready(READY)
        assert browser.js("document.getElementById('workflow').textContent") == HOSTILE
        assert HOSTILE in browser.js("document.getElementById('dispatch-error').textContent")
        labels = browser.js(
            "Array.from(document.querySelectorAll('#graph .node title')).map(t => t.textContent)"
        )
        assert all(HOSTILE in label for label in labels)
        click_task(browser, 0)
        wait_for(lambda: not browser.js("document.getElementById('task-detail').hidden"))
        assert HOSTILE in browser.js("document.getElementById('task-title').textContent")
        browser.goto(url + "/")
        wait_for(lambda: HOSTILE in [r["workflow"] for r in browser.js(ROWS)], what="the row")
        assert browser.js("document.querySelectorAll('img').length") == 0
        assert browser.js("window.pwned === undefined")


@pytest.mark.parametrize(("width", "height", "mobile"), [(1280, 800, False), (390, 844, True)])
def test_the_pages_fit_the_screen(
    base: str, browser: Browser, shots: Path, width: int, height: int, mobile: bool
) -> None:
    browser.viewport(width, height, mobile=mobile)
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    browser.goto(base + "/")
    wait_for(
        lambda: (
            len(browser.js(ROWS)) > 0
            and browser.js("document.querySelectorAll('#chart-days-svg g.day').length")
        ),
        what="the list",
    )
    assert browser.js(overflow) <= 0
    browser.screenshot(shots / f"list-{width}.png")
    open_dispatch(browser, base, OUTER)
    assert browser.js(overflow) <= 0
    graph = browser.js(
        "(() => { const r = document.getElementById('graph').getBoundingClientRect();"
        " return {w: r.width, h: r.height}; })()"
    )
    assert 0 < graph["w"] <= width and graph["h"] >= 90
    browser.screenshot(shots / f"outer-{width}.png")


def test_the_api_docs_render_from_the_server_alone(both: DispatchIndex, browser: Browser) -> None:
    token = "docs-token"
    with live_server(create_app(both, token=token)) as url:
        browser.goto(f"{url}/docs?token={token}")
        operations = wait_for(
            lambda: browser.js(
                "Array.from(document.querySelectorAll('.opblock-summary-path'))"
                ".map(e => e.textContent)"
            ),
            what="Swagger UI's operations",
        )
        assert {
            "/api/v1/dispatches/{dispatch_id}/graph",
            "/api/v1/dispatches/{dispatch_id}/nodes/{node_id}",
            "/api/v1/stats/timeline",
        } <= {op.replace("\u200b", "") for op in operations}
        assert "token" not in browser.js("location.href")
        # Everything it loaded came from this server.
        loaded = browser.js("performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(name.startswith(url + "/") for name in loaded), loaded


def test_a_running_dispatch_follows_the_index(
    index: DispatchIndex, covalent_server: Path, browser: Browser
) -> None:
    final = covalent_server / "dispatcher_db.sqlite"
    saved = covalent_server.parent / "final.sqlite"
    _copy_through_sqlite(final, saved)
    _copy_through_sqlite(RUNNING_DB_240, final)
    index.add_dirs([covalent_server / "data"])
    index.scan()
    assert index.get(SLEEPY_240).status == "RUNNING"
    with live_server(create_app(index)) as url:
        open_dispatch(browser, url, SLEEPY_240)
        assert browser.js("document.getElementById('status').textContent") == "RUNNING"
        before = browser.js("document.getElementById('graph').getAttribute('viewBox')")
        browser.js("document.getElementById('zoom-in').click()")
        zoomed = browser.js("document.getElementById('graph').getAttribute('viewBox')")
        assert zoomed != before
        _copy_through_sqlite(saved, final)  # the server finished it
        index.scan()
        wait_for(
            lambda: browser.js("document.getElementById('status').textContent") == "COMPLETED",
            what="the page to follow the index",
        )
        assert browser.js("performance.getEntriesByType('navigation').length") == 1
        assert browser.js("document.querySelectorAll('#graph .node.status-RUNNING').length") == 0
        # Recoloured in place: the view stays where it was zoomed.
        assert browser.js("document.getElementById('graph').getAttribute('viewBox')") == zoomed


def _copy_through_sqlite(source: Path, dest: Path) -> None:
    """``dest`` holding ``source``'s rows, written by SQLite in place."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(dest)) as dst:
        src.backup(dst)
