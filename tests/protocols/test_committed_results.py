"""The committed protocol tables are the reports of their committed records, not edited by hand."""

from pathlib import Path

import pytest

from bench.results.records import load_records
from bench.results.report import write_report
from bench.suite.loader import load_suite
from bench.suite.schedule import report_stored

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("suite, folder, n_records", [
    ("suites/latency.yaml", "results/latency", 14),
    ("suites/poyo_window_position.yaml", "results/nhp/poyo_window_position", 5),
    ("suites/poyo_window_position_followup.yaml", "results/nhp/poyo_window_position_followup", 11),
])
def test_committed_tables_are_rebuilt_from_their_records(suite, folder, n_records, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    loaded = load_suite(suite)
    records = report_stored(loaded, Path(folder), lambda *_: None)
    assert len(records) == len(load_records(Path(folder))) == n_records  # every record is a run of the suite
    for path in write_report(tmp_path, records, loaded):
        assert path.read_text() == (Path(folder) / path.name).read_text(), path.name
