"""The list page as a person sees it, in headless Chromium (``browser_helpers``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dispatch_indexer import DispatchIndex
from dispatch_indexer.corpus import clone
from dispatch_indexer.http import create_app

from ..browser_helpers import Browser, browser, needs_chromium, wait_for
from ..http_helpers import live_server
from ..realdata import ARITH, FAILED, FIXTURES

TOKEN = "page-token"
pytestmark = needs_chromium
__all__ = ["browser"]  # the fixture, used by name


ROWS = """Array.from(document.querySelectorAll('#dispatches tbody tr')).map(tr => ({
  id: tr.querySelector('.id').textContent,
  status: tr.querySelector('.status').firstChild.textContent,
  workflow: tr.querySelector('.workflow').textContent,
  start: tr.querySelector('.start').textContent,
  duration: tr.querySelector('.duration').textContent,
  location: tr.querySelector('.location').textContent,
  statusClass: tr.querySelector('.status').className,
  visible: tr.getBoundingClientRect().height > 0,
}))"""
COUNTS = """Object.fromEntries(Array.from(document.querySelectorAll('#counts button')).map(
  b => [b.dataset.status || 'ALL', Number(b.querySelector('.n').textContent)]))"""


def rows(browser: Browser) -> list[dict[str, Any]]:
    return browser.js(ROWS) or []


def test_the_page_shows_every_dispatch_and_follows_the_index(
    indexed: DispatchIndex, corpus: Path, browser: Browser, tmp_path: Path
) -> None:
    expected = indexed.list()
    with live_server(create_app(indexed)) as base:
        browser.goto(base + "/")
        shown = wait_for(lambda: len(rows(browser)) == len(expected) and rows(browser))
        # Newest first, with what a person reads in each column.
        assert [r["id"] for r in shown] == [r.dispatch_id for r in expected]
        by_id = {r["id"]: r for r in shown}
        for record in expected:
            row = by_id[record.dispatch_id]
            assert row["visible"]
            assert row["status"] == record.status
            assert row["workflow"] == (record.lattice_name or "")
            assert row["location"] == record.path
            assert row["statusClass"].endswith(f"status-{record.status}")
        assert by_id[FAILED]["workflow"] == "broken"
        assert by_id[ARITH]["start"].startswith("2026-11-2")
        assert by_id[ARITH]["duration"].endswith(" s")
        text = browser.js("document.body.innerText")
        assert "Covalent dispatches" in text
        assert "11 dispatches" in text
        # A count per status, and the colour of each status.
        counts = wait_for(lambda: browser.js(COUNTS))
        assert counts == {"ALL": 11, **indexed.counts()}
        colours = browser.js(
            "Object.fromEntries(Array.from(document.querySelectorAll('#dispatches tbody tr'))"
            ".map(tr => [tr.querySelector('.status').firstChild.textContent,"
            " getComputedStyle(tr.querySelector('.status')).color]))"
        )
        assert colours["COMPLETED"] != colours["FAILED"] != colours["NEW_OBJECT"]
        browser.screenshot(tmp_path / "status-page.png")

        # The status filter narrows the rows, and "All statuses" brings them back.
        browser.js(
            "(() => { const s = document.getElementById('status-filter');"
            " s.value = 'FAILED'; s.dispatchEvent(new Event('change')); })()"
        )
        narrowed = wait_for(lambda: (r := rows(browser)) and len(r) == 1 and r)
        assert narrowed[0]["id"] == FAILED and narrowed[0]["status"] == "FAILED"
        options = browser.js(
            "Array.from(document.querySelectorAll('#status-filter option')).map(o => o.value)"
        )
        assert options == ["", "COMPLETED", "FAILED", "NEW_OBJECT"]
        browser.js(
            "(() => { const s = document.getElementById('status-filter');"
            " s.value = ''; s.dispatchEvent(new Event('change')); })()"
        )
        wait_for(lambda: len(rows(browser)) == 11)

        # A dispatch indexed after the page loaded appears without a reload.
        folder = clone(FIXTURES / "results" / ARITH, corpus / "results")
        indexed.scan()
        assert browser.js("performance.getEntriesByType('navigation').length") == 1
        arrived = wait_for(
            lambda: folder.name in [r["id"] for r in rows(browser)],
            what=f"{folder.name} to appear",
        )
        assert arrived
        assert len(rows(browser)) == 12
        assert wait_for(lambda: browser.js(COUNTS)["ALL"] == 12)
        new_row = next(r for r in rows(browser) if r["id"] == folder.name)
        assert new_row["workflow"] == "arith"
        assert new_row["location"] == str(folder)


def test_untrusted_text_is_shown_as_text(
    indexed: DispatchIndex, corpus: Path, browser: Browser
) -> None:
    # A 36-character id (the length of the one it replaces) full of markup.
    nasty = '<img src=x onerror="window.pwned=1">'
    assert len(nasty) == 36
    folder = clone(FIXTURES / "results" / ARITH, corpus / "results", new_id=nasty)
    indexed.scan()
    with live_server(create_app(indexed)) as base:
        browser.goto(base + "/")
        wait_for(lambda: folder.name in [r["id"] for r in rows(browser)], what="the odd id")
        assert browser.js("document.querySelectorAll('#dispatches img').length") == 0
        assert browser.js("window.pwned === undefined")
        # Its page opens too: the id travels percent-encoded.
        browser.js(
            "Array.from(document.querySelectorAll('#dispatches tbody tr'))"
            f".find(tr => tr.dataset.id === {json.dumps(nasty)}).click()"
        )
        facts = wait_for(
            lambda: browser.js(
                "window.CIPage && window.CIPage.ready && document.getElementById('facts').innerText"
            ),
            what="the dispatch page",
        )
        assert nasty in facts
        assert browser.js("decodeURIComponent(location.pathname)") == "/dispatches/" + nasty
        assert browser.js("document.querySelectorAll('img').length") == 0
        assert browser.js("window.pwned === undefined")


def test_the_page_with_a_token(indexed: DispatchIndex, browser: Browser) -> None:
    with live_server(create_app(indexed, token=TOKEN)) as base:
        browser.goto(base + "/")
        # Without the token even the page is refused.
        wait_for(lambda: "token" in (browser.js("document.body.innerText") or ""))
        browser.goto(f"{base}/?token={TOKEN}")
        wait_for(lambda: len(rows(browser)) == 11, what="the rows with the token")
        # The token left the address bar; the script sends it as a header.
        assert "token" not in browser.js("window.location.href")
        assert browser.js("document.getElementById('error').hidden")
