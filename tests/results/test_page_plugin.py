"""Adding a model to the page is: run the suite for that model, rebuild the page (README,
"The leaderboard page"). Shown with the example plugin decoder on a tiny suite."""

import re

from bench.results.page import build_pages
from tests.examples.conftest import install_example  # noqa: F401  (the fixture)
from tests.examples.test_examples import run_tiny_suite


def test_a_plugin_run_appears_as_a_row_after_rebuilding(install_example, tmp_path):  # noqa: F811
    install_example("plugin_decoder")
    run_tiny_suite(tmp_path, "reaching_velocity", [{"name": "wiener"}])
    folder = tmp_path / "runs"
    html = build_pages(folder)[0].read_text()
    assert re.findall(r'<tr data-model="([^"]+)"', html) == ["wiener"]
    run_tiny_suite(tmp_path, "reaching_velocity", [{"name": "wiener"}, {"name": "ridge", "params": {"n_lags": 2}}])
    html = build_pages(folder)[0].read_text()
    assert sorted(re.findall(r'<tr data-model="([^"]+)"', html)) == ["ridge", "wiener"]
    ridge = re.search(r'<tr data-model="ridge"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'<td data-sort="0\.\d+" class="score">0\.\d{3}', ridge)  # scored, with its latency and link
    assert re.search(r'href="records/ridge__tiny__seed0__[0-9a-f]{10}\.json"', ridge)
