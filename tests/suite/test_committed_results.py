"""The committed leaderboard must belong to the committed suite: every run that
``python -m bench run suites/nhp.yaml`` plans has its record in results/nhp/records, so the
tables are reproducible and a rerun resumes instead of starting over. A change to a default
training or model setting changes the runs' config hashes and fails here: rerun the suite
(or keep the old behaviour as the default)."""

from pathlib import Path

import pytest

from bench.suite.loader import load_suite
from bench.suite.runner import plan_runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("suite_file,records", [("suites/nhp.yaml", "results/nhp/records")])
def test_committed_records_match_the_suite(suite_file, records):
    runs = plan_runs(load_suite(ROOT / suite_file))
    have = {p.name for p in (ROOT / records).glob("*.json")}
    missing = [r.name for r in runs if r.name not in have]
    assert not missing, f"{len(missing)} of {len(runs)} planned runs have no committed record, e.g. {missing[:3]}"
