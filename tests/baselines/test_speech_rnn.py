"""Speech decoders: the conformance kit on a tiny speech day (streaming == offline at 40 ms chunks,
fresh state per sentence, inputs read as declared), the unfold grid, augmentation and day layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.errors import DataError
from bench.registry import models
from bench.tasks.base import TaskKind
from bench.testing import check_decoder, tiny_session
from baselines.speech_rnn import SpeechRNNNet, SpeechRNNParams

TINY = {"hidden": 16, "layers": 1, "unfold_kernel": 3, "unfold_stride": 2}


@pytest.mark.parametrize("name,extra", [
    ("speech-gru", {}),
    ("speech-gru-sbp", {"input_streams": ["threshold_crossings", "spike_band_power"]}),
    ("speech-s4d", {"d_state": 8}),
    ("speech-mamba", {"d_state": 4}),
])
def test_speech_decoders_conform(name, extra):
    check_decoder(name, {**TINY, **extra}, kinds=[TaskKind.sequence])


def test_possm_gru_on_crossings_and_power_conforms():
    check_decoder("possm-gru", {"dim": 16, "hidden": 16, "n_latents": 4,
                                "feature_streams": ["spike_band_power"]}, kinds=[TaskKind.sequence])


def test_unfold_frames_are_causal():
    net = SpeechRNNNet(2, 1, SpeechRNNParams(unfold_kernel=3, unfold_stride=2, hidden=4, layers=1), 41)
    h = torch.arange(10, dtype=torch.float32).reshape(1, 5, 2)
    frames = net.frames(h)  # frame k ends at bin 2k
    assert frames.shape == (1, 3, 6)
    np.testing.assert_array_equal(frames[0, 0].numpy(), [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(frames[0, 2].numpy(), [4, 5, 6, 7, 8, 9])


def test_noise_augmentation_only_when_asked():
    data = tiny_session(TaskKind.sequence)
    quiet = models.get("speech-gru-no-noise")(models.params("speech-gru-no-noise", TINY))
    quiet.initialise([data])
    batch = {"x": torch.zeros(2, 5, 3)}
    assert quiet.augment(batch, np.random.default_rng(0)) is batch
    noisy = models.get("speech-gru")(models.params("speech-gru", TINY))
    noisy.initialise([data])
    out = noisy.augment(batch, np.random.default_rng(0))["x"]
    assert 0.8 < float(out.std()) < 1.3  # white noise SD 1 plus offsets SD 0.2


def test_day_layers_per_recording_and_unknown_day():
    days = [tiny_session(TaskKind.sequence, 0), tiny_session(TaskKind.sequence, 1)]
    dec = models.get("speech-gru")(models.params("speech-gru", TINY))
    dec.initialise(days[:1])
    assert dec.module.day_weight.shape[0] == 1
    with pytest.raises(DataError, match="no input layer for recording"):
        dec.predict(days[1].segments("test"))
    dec.initialise(days)
    assert dec.module.day_weight.shape[0] == 2 and dec.n_parameters() > 0
