"""results/speech belongs to suites/speech.yaml: every committed record is a current run of the
suite (none stale, none unplanned), so `bench run suites/speech.yaml --out results/speech` only
adds the missing runs (results/speech/NOTES.md lists them) and `bench report` rebuilds the tables."""

from pathlib import Path

import pytest

from bench.results.records import load_records
from bench.suite.loader import load_suite
from bench.suite.plan import plan_runs, sort_records

ROOT = Path(__file__).resolve().parents[2]
SUITE, RECORDS = ROOT / "suites/speech.yaml", ROOT / "results/speech"


def test_committed_speech_records_are_current_runs_of_the_suite():
    if not (RECORDS / "records").is_dir():
        pytest.skip("no committed speech records")
    stored = sort_records(plan_runs(load_suite(SUITE)), load_records(RECORDS))
    assert not stored.stale, [(r.file_name, diffs) for r, diffs in stored.stale]  # which records, and what changed
    assert not stored.unplanned
    assert stored.current
    for record in stored.current:
        assert record.trained and record.sessions
        session = record.sessions[0]
        assert {"sentence_edit_distance", "sentence_length", "examples"} <= set(session.metrics)
