import numpy as np

from bench.tasks.reach_direction import ReachDirection
from tests.conftest import make_recording


def test_one_segment_per_trial_with_label_and_end_query():
    rec = make_recording(n_trials=50)
    data = ReachDirection(ReachDirection.Params(window_s=1.0)).prepare(rec, 0.05)
    assert data.spec.dim == len(np.unique(rec.trials.target_id))
    total = sum(len(data.segments(s)) for s in ("train", "valid", "test"))
    assert total == 50
    for seg in data.segments("test"):
        assert seg.duration <= 1.0 + 1e-9
        assert seg.query_times.size == 1 and seg.end - 1e-3 < seg.query_times[0] < seg.end
        i = np.argmin(np.abs(rec.trials.start - seg.start))
        assert data.spec.names[seg.targets[0]] == str(rec.trials.target_id[i])


def test_accuracy_of_true_logits_is_one():
    data = ReachDirection().prepare(make_recording(n_trials=50), 0.05)
    test = data.segments("test")
    logits = [np.eye(data.spec.dim)[s.targets] for s in test]
    assert ReachDirection().score(test, logits)["accuracy"] == 1.0
