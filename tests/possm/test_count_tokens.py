"""POSSM's count layout for crossings binned at the chunk width (the speech task's sequence path):
the same outputs as the per-token path, streaming equal to offline, unit dropout on columns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench import registry
from bench.data.simulators.speech import DaySpec, simulate_day
from bench.suite.execute import streaming_diff


@pytest.fixture(scope="module")
def speech_day():
    rec = simulate_day(DaySpec("t12_counts", 0, 0, n_blocks=2, trials_per_block=3))
    return registry.tasks.get("speech_phonemes")(registry.tasks.get("speech_phonemes").Params()).prepare(rec, 0.02)


@pytest.mark.parametrize("extra", [{}, {"feature_streams": ["spike_band_power"]}])
def test_count_layout_equals_token_layout_and_streams(speech_day, extra):
    torch.manual_seed(0)
    model = registry.models.get("possm-gru")(registry.models.params("possm-gru", {"n_latents": 4, **extra}))
    model.initialise([speech_day])
    model.to("cpu")
    model.module.eval()
    assert model.count_tokens  # 20 ms crossings read at 20 ms chunks: every token at its chunk centre
    segs = speech_day.segments("test")
    example = model.encode(segs[0])
    assert "tok_counts" in example and "tok_unit" not in example
    times, _ = segs[0].recording.spikes_between(segs[0].start, segs[0].end)
    assert example["tok_counts"][:, :-1].sum() == times.size  # every crossing counted once
    counted = model.predict(segs)
    model.count_tokens = False
    tokens = model.predict(segs)
    assert max(np.abs(a - b).max() for a, b in zip(counted, tokens)) < 1e-5
    assert streaming_diff(model, segs[0], counted[0], 0.02) < 1e-5


def test_count_layout_not_used_when_chunks_hold_several_bins(speech_day):
    rec = speech_day.recording
    data = registry.tasks.get("speech_phonemes")(registry.tasks.get("speech_phonemes").Params()).prepare(rec, 0.04)
    model = registry.models.get("possm-gru")(registry.models.params("possm-gru", {"n_latents": 4}))
    model.initialise([data])
    assert not model.count_tokens  # tokens at two times per chunk: the per-token path
    assert "tok_unit" in model.encode(data.segments("test")[0])


def test_unit_dropout_on_counts_drops_whole_units_and_pads_empty_chunks(speech_day):
    model = registry.models.get("possm-gru")(registry.models.params("possm-gru", {"n_latents": 4}))
    model.initialise([speech_day])
    from bench.models.torch_decoder import pad_collate

    batch = pad_collate([model.encode(s) for s in speech_day.segments("train")[:3]])
    out = model.augment(batch, np.random.default_rng(0))
    before, after = batch["tok_counts"], out["tok_counts"]
    kept_units = (after[..., :-1].sum(dim=1) > 0)
    had_units = (before[..., :-1].sum(dim=1) > 0)
    assert (kept_units <= had_units).all() and (kept_units.sum(1) < had_units.sum(1)).any()
    # a kept unit keeps all its counts; a dropped one loses all of them
    same = (after[..., :-1] == before[..., :-1]).all(dim=1)
    gone = (after[..., :-1] == 0).all(dim=1)
    assert (same | gone).all()
    valid = batch["chunk_valid"]
    empty = after[..., :-1].sum(-1) == 0
    assert torch.equal(after[..., -1] == 1, empty & valid)
