"""A diverging training is stopped, recorded failed and shown as failed, never scored (issue 13)."""

from __future__ import annotations

import json
import math
import textwrap

import pytest
import torch

from bench.results.compare import comparison_frame
from bench.results.records import load_records, read_record, record_files
from bench.suite.schedule import run_suite
from bench.training.config import TrainConfig
from bench.training.loop import TrainingDiverged, train_loop

SUITE = """
name: diverge
task: reaching_velocity
seeds: [0]
train: {epochs: 3, batch_size: 16}
latency: {n_chunks: 20, warmup: 2}
datasets:
  - {name: tiny, source: hdf5, params: {path: FOLDER}}
models:
  - {name: wiener}
  - {name: gru, params: {hidden: 16, embed_dim: 8}, train: {lr: 1000.0}}
"""


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_lr_1e3_is_recorded_failed_and_shown_failed(tmp_path, tiny_folder):
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(SUITE).replace("FOLDER", str(tiny_folder)))
    logs: list[str] = []
    out = run_suite(suite, out=tmp_path / "run", progress=False, log=logs.append, compare=False)
    records = {r.label: r for r in load_records(out)}
    gru = records["gru"]
    assert gru.status == "failed" and "diverged" in gru.failure_reason and "lr 1000" in gru.failure_reason
    assert gru.summary is None and gru.sessions == []
    assert records["wiener"].status == "ok" and records["wiener"].summary.n == 2
    for path in record_files(out):
        _strict_json(path.read_text())
    table = (out / "table.md").read_text()
    gru_row = next(line for line in table.splitlines() if line.startswith("| gru"))
    assert "failed (diverged)" in gru_row and "±" not in gru_row
    assert "| wiener" in table and "±" in next(line for line in table.splitlines() if line.startswith("| wiener"))
    frame = comparison_frame(list(records.values()), [records["wiener"]])
    assert frame.set_index("model").loc["gru", "failed"] and math.isnan(frame.set_index("model").loc["gru", "yours"])
    # a rerun keeps the failed record (the same settings diverge again) and says so
    logs.clear()
    run_suite(suite, out=tmp_path / "run", progress=False, log=logs.append, compare=False)
    assert "2 already recorded, 0 to run" in logs[0]


def _tiny_training(loss_of, epochs=3):
    module = torch.nn.Linear(2, 1)
    x = torch.randn(8, 2)
    return module, lambda: train_loop(module, list(range(8)), lambda idx: x[idx], lambda b: loss_of(module, b),
                                      lambda: float(loss_of(module, x)), TrainConfig(epochs=epochs, batch_size=4),
                                      progress=False)


def test_every_loss_nan_stops_at_once_and_never_restores_initial_weights():
    module, train = _tiny_training(lambda m, b: m(b).sum() * float("nan"))
    with pytest.raises(TrainingDiverged, match=r"training loss became nan in epoch 1"):
        train()


def test_an_exploding_loss_stops_the_training():
    calls = {"n": 0}

    def loss(module, batch):
        calls["n"] += 1
        return (module(batch) ** 2).mean() * 0 + (1.0 if calls["n"] == 1 else 1e9) + 0 * module.weight.sum()

    _, train = _tiny_training(loss)
    with pytest.raises(TrainingDiverged, match=r"exploded to 1e\+09"):
        train()


def test_an_ordinary_training_is_untouched():
    _, train = _tiny_training(lambda m, b: (m(b) - 1.0).pow(2).mean())
    report = train()
    assert report.epochs_run == 3 and all(math.isfinite(h["train_loss"]) for h in report.history)


def test_a_nan_metric_is_written_as_null(tmp_path, tiny_folder):
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(SUITE).replace("FOLDER", str(tiny_folder)).replace(
        "  - {name: gru, params: {hidden: 16, embed_dim: 8}, train: {lr: 1000.0}}\n", ""))
    out = run_suite(suite, out=tmp_path / "run", progress=False, log=lambda s: None, compare=False)
    (path,) = record_files(out)
    record = read_record(path)
    record.sessions[0].metrics[record.metric] = float("nan")
    record.streaming_max_abs_diff = float("inf")
    text = record.model_dump_json()
    data = _strict_json(text)
    assert data["sessions"][0]["metrics"][record.metric] is None and data["streaming_max_abs_diff"] is None


@pytest.mark.parametrize("protocol", ["{name: learning_curve, params: {epochs: [1, 2]}}", "latency"])
def test_protocol_tables_show_a_diverged_run_as_a_failed_row(tmp_path, tiny_folder, protocol):
    """Tables other than train_eval's list failed records as "failed (diverged)" rows (markdown and
    csv), never drop them and never crash on a record without metrics or latency."""
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(SUITE).replace("FOLDER", str(tiny_folder)) + f"protocol: {protocol}\n")
    out = run_suite(suite, out=tmp_path / "run", progress=False, log=lambda s: None, compare=False)
    records = {r.label: r for r in load_records(out)}
    assert records["gru"].status == "failed"
    name = "latency" if protocol == "latency" else "learning_curve"
    md = (out / f"{name}.md").read_text()
    failed_rows = [line for line in md.splitlines() if "failed (diverged)" in line]
    assert any(line.startswith("| gru") for line in failed_rows)
    csv = (out / f"{name}.csv").read_text().splitlines()
    assert any(line.startswith("gru,") and "failed (diverged)" in line for line in csv)
    if records["wiener"].status == "ok":  # its scores stay in the table, marked ok
        assert any(line.startswith("wiener,") and line.endswith(",ok") for line in csv)
