"""The window-position protocol: lookahead for models that offer it, parameter variants for models
whose parameters have them, fresh / warm stream scores; and its report."""

from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import BaseModel

from bench.errors import SuiteError
from bench.protocols import window_position as wp
from bench.results.records import load_records
from bench.suite.schedule import run_suite
from bench.tasks.base import Segment
from bench.tasks.reaching import ReachingVelocity


def _segment(start, queries, first_sample=0.0):
    rec = SimpleNamespace(domain=SimpleNamespace(start=np.array([first_sample, 100.0])))
    q = np.asarray(queries, float)
    return Segment(rec, start, start + 2.0, q, np.zeros((q.size, 2), np.float32), np.ones(q.size),
                   np.ones(q.size, bool))


def test_warm_segments_start_whole_chunks_earlier_and_never_before_the_recording():
    segs = [_segment(10.0, [10.2, 11.5]), _segment(0.35, [0.5, 1.5]), _segment(0.0, [0.1])]
    warm = wp.warm_segments(segs, 1.0, 0.05)
    assert [round(s.start, 9) for s in warm] == [9.0, 0.0, 0.0]  # clamped to whole chunks after 0.0
    for cold, hot in zip(segs, warm):
        assert hot.end == cold.end and hot.query_times is cold.query_times and hot.eval_mask is cold.eval_mask
        offsets = (cold.start - hot.start) / 0.05  # every query keeps its place on the chunk grid
        assert abs(offsets - round(offsets)) < 1e-9


def test_queries_split_at_the_window_length_partition_the_scored_queries():
    seg = _segment(5.0, [5.0, 5.5, 5.95, 6.0, 6.9])
    seg.eval_mask[1] = False
    early, late = wp.queries_by_time_in_trial([seg], 1.0)
    assert early[0].eval_mask.tolist() == [True, False, True, False, False]
    assert late[0].eval_mask.tolist() == [False, False, False, True, True]
    assert seg.eval_mask.tolist() == [True, False, True, True, True]  # the input is not modified


class _Params(BaseModel):
    mode: str = "causal"


class _Causal:
    """Predicts zeros causally, the truth in mode 'oracle'."""

    def __init__(self):
        self.params = _Params()

    def predict(self, segments):
        return [s.targets if self.params.mode == "oracle" else np.zeros_like(s.targets) for s in segments]


class _Lookahead(_Causal):
    def predict_lookahead(self, segments, seconds):
        return [s.targets * (1.0 if seconds >= 0.5 else 0.5) for s in segments]


def test_scores_lookahead_only_where_offered_and_variants_only_where_the_parameters_exist(tiny_recording):
    task, data = ReachingVelocity(), ReachingVelocity().prepare(tiny_recording, 0.05)
    params = wp.WindowPositionParams(lookaheads=[0.1, 0.5], variants={"oracle": {"mode": "oracle"},
                                                                      "other": {"no_such_field": 1}})
    metrics, scores = wp.session_scores(_Lookahead(), task, data, params)
    assert scores["lookahead 0.5 s"] == pytest.approx(1.0) and scores["lookahead 0.1 s"] < 1.0
    assert scores["oracle"] == pytest.approx(1.0) and "other" not in scores
    assert scores["fresh"] == pytest.approx(metrics["r2"]) and set(wp.CONTEXT_KEYS) <= set(scores)
    assert "train" in scores
    model = _Causal()
    _, plain = wp.session_scores(model, task, data, params.model_copy(update={"context": False}))
    assert sorted(plain) == ["oracle", "train"] and model.params.mode == "causal"  # the variant is undone


def test_run_records_scores_and_reports_the_models_with_window_scores(tmp_path, protocol_suite):
    suite = protocol_suite("{name: window_position, params: {variants: {paper: {alphas: [1.0]}}}}")
    out = run_suite(suite, out=tmp_path / "run", progress=False, log=lambda *_: None)
    records = {r.label: r for r in load_records(out)}
    wiener = records["wiener"]
    assert wiener.protocol == "window_position" and len(wiener.sessions) == 2
    assert "paper" in wiener.sessions[0].scores and "paper" not in records["gru"].sessions[0].scores
    table = (out / "window_position.md").read_text()
    assert "## wiener: model wiener" in table and "## gru" not in table  # gru has no window scores
    assert "| wiener paper - " not in table  # no reference models: no differences
    assert "gru fresh" in table  # the other model of the run beside it on fresh / warm streams


def test_a_variant_with_bad_values_is_refused_before_training(tmp_path, protocol_suite):
    suite = protocol_suite("{name: window_position, params: {variants: {paper: {alphas: not-a-list}}}}")
    with pytest.raises(SuiteError, match=r"variants.paper.*WienerParams"):
        run_suite(suite, out=tmp_path / "run", progress=False, log=lambda *_: None)
    assert not (tmp_path / "run" / "records").exists()
