"""POSSM specifics: sizes, tokenisation, empty chunks, unit dropout, the recent-chunks rule."""

import numpy as np
import pytest
import torch

from bench import registry
from bench.data.intervals import Intervals
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig
from possm.model import recent_chunks_mask
from tests.conftest import make_recording

CONFIGS = ["possm-gru", "possm-s4d", "possm-mamba", "possm-gru-large", "possm-s4d-large", "possm-mamba-large"]


@pytest.fixture(scope="module")
def data():
    return ReachingVelocity().prepare(make_recording(n_trials=24, n_units=20), 0.05)


def initialised(name, data, **params):
    cls = registry.models.get(name)
    model = cls(cls.Params(**params), seed=0)
    model.initialise([data])
    return model


# The authors' public POSSM-GRU small config counts 405,954 parameters without embedding tables
# (../shared/reference/FACTS.md); the paper's 0.47M is a secondary note's figure.
PUBLIC_PARAMETERS = {"possm-gru": 405_954}


@pytest.mark.parametrize("name", CONFIGS)
def test_parameter_counts_within_10_percent_of_paper(name, data):
    model = initialised(name, data)
    if name in PUBLIC_PARAMETERS:
        assert abs(model.n_parameters() - PUBLIC_PARAMETERS[name]) / PUBLIC_PARAMETERS[name] < 0.01
        return
    target = type(model).paper_parameters
    assert abs(model.n_parameters() - target) / target < 0.10
    # embedding tables are excluded: more units do not change the count
    assert sum(p.numel() for n, p in model.module.named_parameters() if n.startswith("unit_emb")) > 0


def test_tokens_hold_every_spike_once_with_padding_for_empty_chunks(data):
    model = initialised("possm-gru", data)
    seg = data.segments("train")[0]
    ex = model.encode(seg)
    n_spikes = seg.recording.spikes_between(seg.start, seg.end)[0].size
    pads = ex["tok_unit"] < 0
    assert (~pads).sum() == n_spikes
    n_chunks = ex["chunk_end"].size
    per_chunk = np.bincount(ex["tok_chunk"], minlength=n_chunks)
    assert per_chunk.min() >= 1  # every chunk has at least its padding token
    assert np.all(np.abs(ex["tok_dt"]) <= 0.025 + 1e-6)  # times are relative to the chunk centre
    assert np.all(np.diff(ex["tok_chunk"]) >= 0)


def test_silent_gap_streams_like_offline():
    rec = make_recording(n_trials=24, n_units=20)
    silent = (rec.spike_times > 20.0) & (rec.spike_times < 21.5)  # 1.5 s without spikes
    rec.spike_times, rec.spike_units = rec.spike_times[~silent], rec.spike_units[~silent]
    rec.splits["test"] = Intervals.single(19.0, 23.0)
    data = ReachingVelocity(ReachingVelocity.Params(eval_phase="all")).prepare(rec, 0.05)
    cls = registry.models.get("possm-gru")
    model = cls(cls.Params(), seed=0)
    model.fit([data], TrainConfig(epochs=1), progress=False)
    seg = data.segments("test")[0]
    np.testing.assert_allclose(model.stream(seg, 0.05), model.predict([seg])[0], atol=1e-5, rtol=1e-5)


def test_one_query_per_chunk_streams_like_offline(data):
    """Behaviour sampled at the chunk rate (chunk = bin) puts one query in each chunk: the stream
    used to rotate its stored output query in place there, drifting from offline from chunk 3 on."""
    from dataclasses import replace

    from bench.models.windows import chunk_count, chunk_of

    cls = registry.models.get("possm-gru")
    model = cls(cls.Params(dim=16, dim_head=8, hidden=16), seed=0)
    model.fit([data], TrainConfig(epochs=1, batch_size=8), progress=False)
    seg = data.segments("test")[0]
    _, first = np.unique(chunk_of(seg.query_times, seg.start, 0.05, chunk_count(seg.start, seg.end, 0.05)),
                         return_index=True)
    one = replace(seg, query_times=seg.query_times[first], targets=seg.targets[first],
                  weights=seg.weights[first], eval_mask=seg.eval_mask[first])
    assert first.size > 5
    np.testing.assert_allclose(model.stream(one, 0.05), model.predict([one])[0], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(model.stream(one, 0.05), model.stream(seg, 0.05)[first], atol=1e-5, rtol=1e-5)


def test_unit_dropout_keeps_a_subset_and_pads_emptied_chunks(data):
    model = initialised("possm-gru", data)
    from bench.models.torch_decoder import pad_collate

    batch = pad_collate([model.encode(s) for s in data.segments("train")[:4]])
    out = model.augment(batch, np.random.default_rng(0))
    spikes_before = (batch["tok_valid"] & (batch["tok_unit"] >= 0)).sum()
    kept = out["tok_valid"] & (out["tok_unit"] >= 0)
    assert 0 < kept.sum() <= spikes_before
    for b in range(4):  # every real chunk still has a token
        C = int(batch["chunk_valid"][b].sum())
        has = torch.zeros(out["chunk_end"].shape[1], dtype=torch.bool)
        has[out["tok_chunk"][b][out["tok_valid"][b]]] = True
        assert has[:C].all()


def test_recent_chunks_rule():
    q = torch.tensor([[0, 1, 4]])
    m = recent_chunks_mask(q, 6, 3, torch.ones(1, 6, dtype=torch.bool))[0]
    assert m[0].tolist() == [True, False, False, False, False, False]
    assert m[1].tolist() == [True, True, False, False, False, False]
    assert m[2].tolist() == [False, False, True, True, True, False]


def _carried_numel(obj) -> int:
    if torch.is_tensor(obj):
        return obj.numel()
    if isinstance(obj, (list, tuple)):
        return sum(_carried_numel(o) for o in obj)
    return 0


def test_streaming_state_does_not_grow(data):
    from bench.models.base import chunk_segment

    cls = registry.models.get("possm-s4d")
    model = cls(cls.Params(), seed=0)
    model.fit([data], TrainConfig(epochs=1), progress=False)
    model.reset(data.recording)
    sizes = []
    for chunk in chunk_segment(data.segments("train")[0], 0.05):
        model.step(chunk)
        stream = model._stream
        sizes.append(_carried_numel([stream.backbone_state, stream.ring]))
    assert len(sizes) > 10 and sizes[0] > 0 and set(sizes) == {sizes[0]}
    assert stream.ring.shape[0] == model.params.k_recent


def test_training_windows_are_the_encoded_windows_of_the_chunk_grid(data):
    from bench.models.windows import chunk_edges, crop
    from possm.decoder import slice_example

    model = initialised("possm-gru", data)
    seg = data.segments("train")[0]
    whole = model.encode(seg)
    edges = chunk_edges(seg.start, seg.end, 0.05)
    i0, i1 = 3, 23
    cut = slice_example({**whole, "targets": seg.targets, "weights": seg.weights}, i0, i1, 0.05)
    direct = model.encode(crop(seg, float(edges[i0]), float(edges[i1])))
    for key in ("tok_unit", "tok_chunk", "chunk_end"):
        np.testing.assert_array_equal(cut[key], direct[key], err_msg=key)
    for key in ("tok_dt", "tok_phase"):
        np.testing.assert_allclose(cut[key], direct[key], atol=1e-6, err_msg=key)
    # queries: those of the window's chunks on the segment's grid (as streaming assigns them; crop
    # compares times with the edges, so a query a rounding away from an edge can differ)
    inside = (whole["query_chunk"] >= i0) & (whole["query_chunk"] < i1)
    np.testing.assert_array_equal(cut["query_chunk"], whole["query_chunk"][inside] - i0)
    np.testing.assert_allclose(cut["query_time"], whole["query_time"][inside] - i0 * 0.05, atol=1e-9)
    np.testing.assert_array_equal(cut["targets"], seg.targets[inside])
    # every epoch: windows of 1 s, as many per segment as fit, targets cut with their queries
    epoch = model.training_examples(data.segments("train"), TrainConfig(epochs=1))
    windows = epoch(0)
    assert all(w["chunk_valid"].size == 20 for w in windows)
    assert len(windows) == sum(round((s.end - s.start) / 0.05) // 20 for s in data.segments("train"))
    assert all(w["targets"].shape[0] == w["query_time"].size for w in windows)


def test_unit_dropout_thins_a_large_population_and_pads_emptied_chunks():
    data = ReachingVelocity().prepare(make_recording(n_trials=24, n_units=400), 0.05)
    model = initialised("possm-gru", data)
    from bench.models.torch_decoder import pad_collate

    batch = pad_collate([model.encode(s) for s in data.segments("train")[:4]])
    rng = np.random.default_rng(0)
    # 400 units: triangular(60, 300, 1000) keeps them all in 55 % of samples and thins the others
    kept_units = [len(set(o["tok_unit"][b][o["tok_valid"][b] & (o["tok_unit"][b] >= 0)].tolist()))
                  for o in (model.augment(batch, rng) for _ in range(10)) for b in range(4)]
    thinned = [k for k in kept_units if k < max(kept_units)]
    assert 5 <= len(thinned) <= 35 and min(thinned) >= 50  # (a kept unit may be silent in these trials)
    out = model.augment(batch, rng)
    for b in range(4):
        has = torch.zeros(out["chunk_end"].shape[1], dtype=torch.bool)
        has[out["tok_chunk"][b][out["tok_valid"][b]]] = True
        assert has[batch["chunk_valid"][b]].all()  # every real chunk keeps a token
    added = out["tok_valid"][:, batch["tok_unit"].shape[1]:]
    if added.any():  # padding tokens sit at their chunk's centre
        tail = {k: out[k][:, batch["tok_unit"].shape[1]:][added] for k in ("tok_unit", "tok_dt", "tok_phase")}
        assert (tail["tok_unit"] == -1).all() and (tail["tok_dt"] == 0).all()
        assert torch.equal(tail["tok_phase"], model.module.token_phases(torch.zeros(len(tail["tok_dt"]))))
