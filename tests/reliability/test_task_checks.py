"""Every task's prepared data is checked (bench.tasks.base.check_task_data): the trial classification
tasks through their shared readout, and any task through the suite runner's DatasetCache, so a task
that forgets the check in its own ``prepare`` still cannot score NaN or constant targets."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from bench.data.intervals import Intervals
from bench.data.storage import save_recording
from bench.errors import DataError
from bench.suite.schedule import run_suite
from bench.tasks.reach_direction import ReachDirection
from tests.conftest import make_recording


def test_reach_direction_with_one_class_in_training_is_refused():
    rec = make_recording(n_trials=16, n_units=4)
    rec.trials.target_id[:] = 3
    with pytest.raises(DataError, match=r"every training trial of task 'reach_direction' has the same class \(3\)"):
        ReachDirection().prepare(rec, 0.02)


def test_reach_direction_with_an_empty_test_split_is_refused():
    rec = make_recording(n_trials=16, n_units=4)
    rec.splits["test"] = Intervals.empty()
    with pytest.raises(DataError, match=r"reach_direction found \d+ train and 0 test trials"):
        ReachDirection().prepare(rec, 0.02)


def test_reach_direction_on_valid_trials_is_accepted():
    data = ReachDirection().prepare(make_recording(n_trials=16, n_units=4), 0.02)
    assert data.segments("train") and data.segments("test")


SUITE = """
name: checked
task: reaching_velocity
train: {epochs: 1, batch_size: 16}
latency: {enabled: false}
datasets:
  - {name: tiny, source: hdf5, params: {path: FOLDER}}
models:
  - {name: wiener}
"""


def test_the_runner_checks_data_a_task_left_unchecked(tmp_path, monkeypatch):
    """A task whose prepare skips the check (simulated by disabling reaching's own call): a constant
    target is still refused by the runner, before any training, with no record written."""
    import bench.tasks.reaching as reaching

    monkeypatch.setattr(reaching, "check_task_data", lambda data, task: None)
    rec = make_recording(n_trials=12, n_units=4)
    rec.behaviour.vel[:, 1] = 3.0
    save_recording(rec, tmp_path / "data" / "tiny_0.h5")
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(SUITE).replace("FOLDER", str(tmp_path / "data")))
    with pytest.raises(DataError, match=r"target vy is constant \(3\)"):
        run_suite(suite, out=tmp_path / "run", progress=False, log=lambda s: None, compare=False)
    assert not list(tmp_path.glob("run/**/*.json"))
