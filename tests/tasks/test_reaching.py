import numpy as np
import pytest

from bench.errors import DataError
from bench.tasks.reaching import ReachingVelocity
from tests.conftest import make_recording


def test_segments_on_chunk_grid_inside_split():
    rec = make_recording()
    data = ReachingVelocity().prepare(rec, 0.05)
    for split in ("train", "valid", "test"):
        for seg in data.segments(split):
            assert abs(seg.start / 0.05 - round(seg.start / 0.05)) < 1e-6
            assert rec.split(split).contains(np.array([seg.start, seg.end - 1e-6])).all()
            assert np.all((seg.query_times >= seg.start) & (seg.query_times < seg.end))
    n_test = sum(len(s.query_times) for s in data.segments("test"))
    assert n_test > 0


def test_centre_out_scores_reach_phase_only_and_weights_phases():
    rec = make_recording()
    data = ReachingVelocity().prepare(rec, 0.05)
    seg = data.segments("test")[0]
    in_reach = rec.phases["reach_period"].contains(seg.query_times)
    np.testing.assert_array_equal(seg.eval_mask, in_reach)
    assert set(np.unique(seg.weights[in_reach])) == {5.0}
    assert set(np.unique(seg.weights[rec.phases["hold_period"].contains(seg.query_times)])) == {np.float32(0.1)}


def test_eval_all_scores_everything():
    data = ReachingVelocity(ReachingVelocity.Params(eval_phase="all")).prepare(make_recording(), 0.05)
    assert all(s.eval_mask.all() for s in data.segments("test"))


def test_score_perfect_and_mean():
    data = ReachingVelocity().prepare(make_recording(), 0.05)
    test = data.segments("test")
    assert ReachingVelocity().score(test, [s.targets for s in test])["r2"] == pytest.approx(1.0)
    mean = np.concatenate([s.targets[s.eval_mask] for s in test]).mean(0)
    assert ReachingVelocity().score(test, [np.tile(mean, (len(s.targets), 1)) for s in test])["r2"] == pytest.approx(0.0, abs=1e-9)


def test_recording_without_behaviour_is_refused():
    rec = make_recording()
    rec.behaviour = None
    with pytest.raises(DataError, match="reach_direction"):
        ReachingVelocity().prepare(rec, 0.05)
