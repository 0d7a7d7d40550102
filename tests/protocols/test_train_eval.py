"""train_eval: learning curves in records, the validation-split check, and resuming inside a run."""

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from bench import registry
from bench.errors import SuiteError
from bench.data.storage import save_recording
from bench.protocols import train_eval
from bench.protocols.session_checkpoint import PARTIAL_DIR
from bench.results.records import load_records
from bench.suite.schedule import run_suite
from bench.tasks.base import TaskKind
from bench.tasks.reaching import ReachingVelocity
from bench.testing import tiny_session
from bench.training.config import TrainConfig
from bench.training.validation_split import MIN_VALID, check_validation_split, valid_size
from tests.conftest import make_recording, write_suite

GRU_SUITE = """
name: tiny
task: reaching_velocity
seeds: [0]
train: {epochs: 3, batch_size: 16}
latency: {n_chunks: 10, warmup: 2}
datasets:
  - {name: tiny, source: hdf5, params: {path: FOLDER}}
models:
  - {name: gru, params: {hidden: 8, embed_dim: 4}}
"""


def _folder(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / f"data{n}"
    for i in range(n):
        save_recording(make_recording(n_trials=20, seed=i, recording_id=f"s{i}"), folder / f"s{i}.h5")
    return folder


def _run(suite, out, **kw):
    return run_suite(suite, out=out, progress=False, log=lambda *_: None, compare=False, **kw)


def test_records_keep_each_sessions_learning_curve(tmp_path):
    out = _run(write_suite(tmp_path, _folder(tmp_path, 2), GRU_SUITE), tmp_path / "run")
    (rec,) = load_records(out)
    for s in rec.sessions:
        assert [p.epoch for p in s.curve] == list(range(s.fit["epochs_run"])) and s.fit["max_epochs"] == 3
        assert all(np.isfinite(p.train_loss) and np.isfinite(p.valid_loss) for p in s.curve)
        assert all(p.valid_metric is not None and -10 < p.valid_metric <= 1 for p in s.curve)  # valid R^2
        best = min(range(len(s.curve)), key=lambda i: s.curve[i].valid_loss)
        assert s.fit["best_epoch"] == best


def test_the_valid_metric_does_not_change_training(tmp_path, monkeypatch):
    """The per-epoch valid predictions leave the random generators as they were: same scores."""
    suite = write_suite(tmp_path, _folder(tmp_path, 1), GRU_SUITE)
    (with_metric,) = load_records(_run(suite, tmp_path / "a"))
    monkeypatch.setattr(ReachingVelocity, "score", _fail_on_valid(ReachingVelocity.score))
    (without,) = load_records(_run(suite, tmp_path / "b"))
    assert all(p.valid_metric is None for p in without.sessions[0].curve)
    assert with_metric.sessions[0].metrics == without.sessions[0].metrics


def _fail_on_valid(score):
    """``score`` that refuses anything but the test split (so every valid metric is skipped)."""
    def patched(self, segments, predictions):
        if any(seg.recording.splits["test"].contains(np.array([seg.start]))[0] for seg in segments):
            return score(self, segments, predictions)
        raise ValueError("valid metric refused by the test")
    return patched


def test_a_validation_split_too_small_to_select_on_is_refused():
    data = tiny_session(TaskKind.classification)
    need, unit = MIN_VALID[TaskKind.classification]
    assert valid_size(data) < need  # the tiny session holds a few validation trials
    with pytest.raises(SuiteError, match=rf"has {valid_size(data)} validation trials, fewer than the {need} needed"):
        check_validation_split("gru", [data], TrainConfig(epochs=10), "Suite file x.yaml")
    check_validation_split("gru", [data], TrainConfig(epochs=1), "x")  # one epoch: nothing is selected
    check_validation_split("gru", [data], TrainConfig(epochs=10, select_on_valid=False), "x")
    regression = tiny_session(TaskKind.regression)
    assert valid_size(regression) >= MIN_VALID[TaskKind.regression][0]
    check_validation_split("gru", [regression], TrainConfig(epochs=10), "x")


class Killed(Exception):
    pass


def test_a_killed_run_resumes_at_the_next_session(tmp_path, monkeypatch):
    suite = write_suite(tmp_path, _folder(tmp_path, 5), GRU_SUITE)
    (whole,) = load_records(_run(suite, tmp_path / "whole"))

    calls = []
    real_score = ReachingVelocity.score

    def killed_after_three(self, segments, predictions):  # the kill lands after session 3 is checkpointed
        calls.append(1)
        if len(calls) == 4:
            raise Killed
        return real_score(self, segments, predictions)

    monkeypatch.setattr(ReachingVelocity, "score", killed_after_three)
    monkeypatch.setattr(train_eval, "epoch_curve", _no_curve)  # score counts test splits only
    out = tmp_path / "killed"
    with pytest.raises(Killed):
        _run(suite, out)
    assert load_records(out) == [] and len(list((out / PARTIAL_DIR).glob("*.json"))) == 1
    monkeypatch.undo()

    fits = []
    gru = registry.models.get("gru")
    real_fit = gru.fit
    monkeypatch.setattr(gru, "fit", lambda self, *a, **k: fits.append(1) or real_fit(self, *a, **k))
    (resumed,) = load_records(_run(suite, out))
    assert len(fits) == 2  # sessions 4 and 5 only
    assert resumed.provenance["resumed_after_sessions"] == ["s0", "s1", "s2"]
    assert [s.metrics for s in resumed.sessions] == [s.metrics for s in whole.sessions]
    assert resumed.latency.keys() == whole.latency.keys() and resumed.key == whole.key
    assert not (out / PARTIAL_DIR).exists()


@contextmanager
def _no_curve(model, group, task):
    yield []


def test_an_unreadable_or_foreign_checkpoint_is_ignored(tmp_path):
    from bench.protocols.session_checkpoint import (SessionCheckpoint, checkpoint_path, discard_checkpoint,
                                                    load_checkpoint, save_checkpoint)

    state = SessionCheckpoint(key="abc", groups_done=1, sessions=[], n_parameters=[3], latency={},
                              stream_checked=False, streaming_max_abs_diff=None, streaming_output_scale=None)
    save_checkpoint(tmp_path, "r.json", state)
    assert load_checkpoint(tmp_path, "r.json", "abc") == state
    assert load_checkpoint(tmp_path, "r.json", "other-key") is None  # settings changed: another run
    checkpoint_path(tmp_path, "r.json").write_text("{not json")
    assert load_checkpoint(tmp_path, "r.json", "abc") is None  # redone from the first session
    discard_checkpoint(tmp_path, "r.json")
    assert not (tmp_path / PARTIAL_DIR).exists()
    assert load_checkpoint(None, "r.json", "abc") is None
