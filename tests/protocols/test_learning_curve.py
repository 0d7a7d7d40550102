"""The learning-curve protocol: one training per epoch budget, every point kept per session."""

import pandas as pd

from bench.results.records import load_records
from bench.suite.schedule import run_suite


def test_one_point_per_budget_and_the_last_as_the_records_metric(tmp_path, protocol_suite):
    suite = protocol_suite("{name: learning_curve, params: {epochs: [1, 3]}}")
    suite.write_text(suite.read_text().replace("  - {name: wiener}\n", ""))
    out = run_suite(suite, out=tmp_path / "run", progress=False, log=lambda *_: None)
    (rec,) = load_records(out)
    assert rec.protocol == "learning_curve" and len(rec.sessions) == 2
    for s in rec.sessions:
        assert [p.setting for p in s.points] == [{"epochs": 1}, {"epochs": 3}]
        assert [p.fit["epochs_run"] for p in s.points] == [1, 3]
        assert s.metrics == s.points[-1].metrics and "train" in s.points[0].scores
    assert rec.summary.n == 2
    df = pd.read_csv(out / "learning_curve.csv")
    assert len(df) == 4 and set(df["epochs"]) == {1, 3} and {"train_r2", "r2"} <= set(df.columns)


def test_every_budget_trains_to_its_end_and_keeps_its_best_epoch(tmp_path, protocol_suite):
    """No early stopping inside a budget (version 2): a suite patience of 1 does not end a 4-epoch
    point early, and the weights kept are those of the best validation epoch."""
    suite = protocol_suite("{name: learning_curve, params: {epochs: [4]}}")
    text = suite.read_text().replace("  - {name: wiener}\n", "")
    suite.write_text(text.replace("train: {epochs: 2, batch_size: 16}", "train: {epochs: 2, batch_size: 16, patience: 1, lr: 0.05}"))
    out = run_suite(suite, out=tmp_path / "run", progress=False, log=lambda *_: None)
    (rec,) = load_records(out)
    assert rec.identity["protocol"]["version"] == 2
    for s in rec.sessions:
        (point,) = s.points
        assert point.fit["epochs_run"] == 4 and not point.fit["stopped_early"]
        assert 0 <= point.fit["best_epoch"] < 4
