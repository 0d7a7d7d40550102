"""The page as a reader's browser shows it: headless Chromium renders the rows, sorts them on a
header click (driven by the page's '#sort=' hook, which clicks the header), draws the scatter, and
runs no injected markup. Skipped, with the reason, where Chromium is not installed."""

import re

import pytest

from bench.results.browser import chromium_path, dump_dom, page_url, screenshot
from bench.results.page import build_pages
from tests.results.test_page import leaderboard, rows

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="headless Chromium is not installed "
                                "(Debian: apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    return build_pages(leaderboard(tmp_path_factory.mktemp("page") / "run"))[0]


def test_rendered_rows_figure_and_no_injected_element(page):
    dom = dump_dom(page_url(page))
    assert rows(dom)[:4] == ["possm-gru", "s4d", "gru", "mlp"] and len(rows(dom)) == 8
    svg = dom[dom.index('<svg id="scatter"'):dom.index("</svg>")]
    assert len(re.findall(r'<g class="point', svg)) == 7 and len(re.findall(r'class="point pareto', svg)) == 3
    assert 'class="pareto-line"' in svg and "poyo-ss (no score)" in svg
    assert "<img" not in dom and "&lt;img src=x onerror=alert(1)&gt;" in dom  # text, never an element


def test_clicks_sort_the_rows(page):
    dom = dump_dom(page_url(page, "sort=params:desc"))  # two clicks on the header: ascending, then descending
    assert 'data-sorted="params:desc"' in dom and 'aria-sort="descending"' in dom
    assert rows(dom)[:5] == ["poyo-ss", "mlp", "gru", "s4d", "wiener"]  # 1.25M, 260k, 250k, 200k, 1.5k


def test_screenshot(page, tmp_path):
    png = screenshot(page_url(page), tmp_path / "page.png", width=900, height=700)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert int.from_bytes(data[16:20], "big") == 900 and not list(tmp_path.glob(".tmp-*"))
