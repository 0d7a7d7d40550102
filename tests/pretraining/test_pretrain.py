"""Pretraining: killed after an epoch and resumed, it ends with the weights of an uninterrupted run."""

import pytest
import torch

from bench.pretraining.checkpoint import CheckpointError, load_checkpoint, paths
from bench.pretraining.pretrain import last_stem, pretrain
from bench.pretraining.trainer import Interrupted
from bench.training.config import TrainConfig
from tests.pretraining.helpers import sessions, tiny_model

TRAIN = TrainConfig(epochs=4, batch_size=8, lr=3e-3)


def run(stem, data, stop_after=None, train=TRAIN, **params):
    model = tiny_model(**params)
    return pretrain("possm-gru", model.params, data, train, stem, seed=0, device="cpu", progress=False,
                    provenance={"run_key": "k"}, stop_after=stop_after)


@pytest.mark.parametrize("params, optimizer", [({}, "adamw"), ({"dropout": 0.2, "unit_dropout": True}, "adamw"),
                                               ({}, "lamb")])  # the shared loop's optimisers, moments resumed
def test_killed_and_resumed_run_ends_with_the_uninterrupted_weights(tmp_path, params, optimizer):
    data = sessions(3)
    train = TRAIN.model_copy(update={"optimizer": optimizer})
    whole, _ = run(tmp_path / "whole", data, train=train, **params)
    with pytest.raises(Interrupted):
        run(tmp_path / "cut", data, stop_after=2, train=train, **params)
    assert paths(last_stem(tmp_path / "cut"))[1].is_file() and not paths(tmp_path / "cut")[1].exists()
    assert load_checkpoint(last_stem(tmp_path / "cut")).training.epoch == 2
    resumed, report = run(tmp_path / "cut", data, train=train, **params)
    assert report["resumed_from_epoch"] == 2
    for (name, a), b in zip(whole.module.state_dict().items(), resumed.module.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert not paths(last_stem(tmp_path / "cut"))[1].exists()  # the resume point is gone once finished
    final = load_checkpoint(tmp_path / "cut")
    assert final.training.done and final.training.epoch == 4 and len(final.training.history) == 4


def test_a_finished_pretraining_is_loaded_not_retrained(tmp_path):
    data = sessions(2)
    run(tmp_path / "p", data)
    again, report = run(tmp_path / "p", data)
    assert report["loaded_final"]


def test_resume_with_other_sessions_is_refused(tmp_path):
    with pytest.raises(Interrupted):
        run(tmp_path / "p", sessions(2), stop_after=1)
    with pytest.raises(CheckpointError, match="other pretraining sessions"):
        run(tmp_path / "p", sessions(3))


def test_pretraining_runs_the_shared_loop_and_its_epoch_callbacks(tmp_path):
    """Its epochs are the shared loop's (bench.training.loop.Trainer): the on_epoch_end callbacks
    (experiment tracking) see each of them, a resumed run's from where it resumes."""
    from bench.training.loop import on_epoch_end

    data, seen = sessions(2), []
    with on_epoch_end(seen.append), pytest.raises(Interrupted):
        run(tmp_path / "p", data, stop_after=1)
    with on_epoch_end(seen.append):
        run(tmp_path / "p", data)
    assert [e["epoch"] for e in seen] == [0, 1, 2, 3]
    history = load_checkpoint(tmp_path / "p").training.history
    assert [e["steps"] for e in seen] == [h["steps"] for h in history] and history[-1]["steps"] > history[0]["steps"] > 0
    assert [e["train_loss"] for e in seen] == [h["train_loss"] for h in history]
    assert all(e["lr"] > 0 for e in seen)


@pytest.mark.parametrize("setting", [{"max_minutes": 30.0}, {"patience": 3}, {"select_on_valid": False},
                                     {"min_epochs": 2}])
def test_selection_and_stopping_settings_are_refused_not_ignored(tmp_path, setting):
    from bench.errors import SuiteError

    name, value = next(iter(setting.items()))
    with pytest.raises(SuiteError, match=rf"train\.{name} = {value} does not apply.*fixed budget of train\.epochs \(4\)"):
        pretrain("possm-gru", tiny_model().params, sessions(1), TRAIN.model_copy(update=setting), tmp_path / "p",
                 seed=0, device="cpu", progress=False, provenance={})
    assert not list(tmp_path.iterdir())  # refused before anything was trained or written
