"""results/handwriting belongs to suites/handwriting.yaml: every committed record is a current run
of the suite (none stale: a later POSSM or task version bump shows here; none unplanned), complete
for the paper's table (accuracy, balanced accuracy and the confusion matrix of every session), and
its table and confusion figure are committed beside the records. `bench run suites/handwriting.yaml
--out results/handwriting` only adds the missing runs (results/handwriting/NOTES.md lists them)."""

from pathlib import Path

import numpy as np

from bench.data.letters import CHARACTERS
from bench.results.records import load_records
from bench.suite.loader import load_suite
from bench.suite.plan import plan_runs, sort_records

ROOT = Path(__file__).resolve().parents[2]
SUITE, RESULTS = ROOT / "suites/handwriting.yaml", ROOT / "results/handwriting"


def test_committed_handwriting_records_are_current_complete_runs_of_the_suite():
    stored = sort_records(plan_runs(load_suite(SUITE)), load_records(RESULTS))
    assert not stored.stale, [(r.file_name, diffs) for r, diffs in stored.stale]
    assert not stored.unplanned, [r.file_name for r in stored.unplanned]
    assert {r.label for r in stored.current} >= {"pca-knn", "wiener"}
    for record in stored.current:
        assert record.trained and record.task == "handwriting_character" and len(record.sessions) == 3, record.file_name
        for session in record.sessions:
            m = session.metrics
            confusion = np.array(m["confusion"])
            assert confusion.shape == (len(CHARACTERS),) * 2 and confusion.sum() == m["n_samples"] > 0
            assert abs(np.trace(confusion) / m["n_samples"] - m["accuracy"]) < 1e-9, record.file_name
            assert 0.0 <= m["balanced_accuracy"] <= 1.0
    for name in ("table.md", "sessions.md", "confusion_handwriting_sim.png"):
        assert (RESULTS / name).is_file(), name
