"""Pretraining: killed after an epoch and resumed, it ends with the weights of an uninterrupted run."""

import pytest
import torch

from bench.pretraining.checkpoint import CheckpointError, load_checkpoint, paths
from bench.pretraining.pretrain import last_stem, pretrain
from bench.pretraining.trainer import Interrupted
from bench.training.config import TrainConfig
from tests.pretraining.helpers import sessions, tiny_model

TRAIN = TrainConfig(epochs=4, batch_size=8, lr=3e-3)


def run(stem, data, stop_after=None, **params):
    model = tiny_model(**params)
    return pretrain("possm-gru", model.params, data, TRAIN, stem, seed=0, device="cpu", progress=False,
                    provenance={"run_key": "k"}, stop_after=stop_after)


@pytest.mark.parametrize("params", [{}, {"dropout": 0.2, "unit_dropout": True}])
def test_killed_and_resumed_run_ends_with_the_uninterrupted_weights(tmp_path, params):
    data = sessions(3)
    whole, _ = run(tmp_path / "whole", data, **params)
    with pytest.raises(Interrupted):
        run(tmp_path / "cut", data, stop_after=2, **params)
    assert paths(last_stem(tmp_path / "cut"))[1].is_file() and not paths(tmp_path / "cut")[1].exists()
    assert load_checkpoint(last_stem(tmp_path / "cut")).training.epoch == 2
    resumed, report = run(tmp_path / "cut", data, **params)
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
