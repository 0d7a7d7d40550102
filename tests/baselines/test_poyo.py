"""POYO: sizes, windows (clipping, delimiters), paper-mode averaging, streaming == offline, gradients."""

import numpy as np
import pytest
import torch

from baselines.poyo import END, SPIKE, START
from bench import registry
from bench.models.base import chunk_segment
from bench.models.torch_decoder import pad_collate
from bench.models.windows import streaming_windows, tiled_windows
from bench.tasks.base import Segment
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig
from tests.conftest import make_recording

CHUNK_S = 0.05
POYOSS, POYOMP = registry.models.get("poyo-ss"), registry.models.get("poyo-mp")  # presets of POYODecoder
SMALL = dict(dim=16, depth=1, dim_head=8, cross_heads=1, self_heads=2, latents_per_step=2, ff_mult=1)


def toy_segment(rec, start, end, query_times):
    n = query_times.size
    return Segment(rec, start, end, query_times, np.zeros((n, 2), np.float32), np.ones(n, np.float32), np.ones(n, bool))


@pytest.fixture(scope="module")
def data():
    return ReachingVelocity().prepare(make_recording(n_trials=30), CHUNK_S)


def built(cls, data, seed=0, **params):
    """A decoder with an untrained network (what fit sets up before training)."""
    model = cls(cls.Params(**params), seed=seed)
    model.spec, model.chunk_s = data.spec, data.chunk_s
    model.target_mean = np.zeros(data.spec.dim, np.float32)
    model.target_std = np.ones(data.spec.dim, np.float32)
    torch.manual_seed(seed)
    model.module = model.build([data])
    model.module.eval()
    return model


@pytest.fixture(scope="module")
def small(data):
    return built(POYOSS, data, **SMALL)


@pytest.mark.parametrize("cls, target", [(POYOSS, 1.3e6), (POYOMP, 11.8e6)])
def test_parameter_counts_match_the_paper(cls, target, data):
    n = built(cls, data).n_parameters()
    assert abs(n - target) / target < 0.10, n


def test_offline_equals_explicit_clipped_windows(small, data):
    """Offline causal predict = the network run on each chunk's (clipped) window, one by one."""
    seg = next(s for s in data.segments("test") if s.duration > 1.5)
    pred = small.predict([seg])[0]
    windows = streaming_windows(seg, CHUNK_S, 1.0)
    ws, we = windows.starts, windows.ends
    for i, c in enumerate(chunk_segment(seg, CHUNK_S)):
        if c.query_times.size == 0:
            continue
        m = np.isin(seg.query_times, c.query_times)
        batch = pad_collate([small.encode(toy_segment(seg.recording, ws[i], we[i], seg.query_times[m]))])
        with torch.no_grad():
            out = small.forward(batch)[0].numpy()
        np.testing.assert_allclose(pred[m], out, atol=1e-5)


def test_delimiters_per_unit_at_window_edges(small, data):
    seg = tiled_windows(data.segments("train"), 1.0, 0.5, CHUNK_S, cover_end=True)[3]
    ex = small.encode(seg)
    n_units = data.recording.n_units
    units = small.vocab.unit_index(data.recording)
    for kind, t in ((START, 0.0), (END, seg.end - seg.start)):
        m = ex["tok_type"] == kind
        assert sorted(ex["tok_unit"][m].tolist()) == sorted(units.tolist())  # one per unit
        assert m.sum() == n_units
        np.testing.assert_allclose(ex["tok_time"][m], t)
    spikes = ex["tok_type"] == SPIKE
    assert spikes.sum() == data.recording.spikes_between(seg.start, seg.end)[0].size
    assert np.all((ex["tok_time"][spikes] >= 0) & (ex["tok_time"][spikes] < seg.end - seg.start))


def test_augment_drops_whole_units_and_clips_like_a_fresh_stream(data):
    model = built(POYOSS, data, **{**SMALL, "unit_dropout_min": 4, "clip_prob": 1.0})
    wins = tiled_windows(data.segments("train"), 1.0, 0.5, CHUNK_S, cover_end=True)[:16]
    batch = pad_collate([model._example(w) for w in wins])
    out = model.augment(batch, np.random.default_rng(0))
    moved = {"start": 0, "end": 0}
    for b in range(len(wins)):
        real = batch["tok_mask"][b]
        kept, kind, unit = out["tok_mask"][b], batch["tok_type"][b], batch["tok_unit"][b]
        time, q, w = out["tok_time"][b], batch["query_time"][b], out["weights"][b]
        gone = set(unit[real & (kind == START) & ~kept].tolist())
        # a dropped unit loses its delimiters and its spikes; a kept unit keeps both delimiters
        assert not (set(unit[kept].tolist()) & gone)
        assert (kept & (kind == END)).sum() == (kept & (kind == START)).sum()
        start, end = time[real & (kind == START)], time[real & (kind == END)]
        assert torch.all(start == start[0]) and torch.all(end == end[0])
        assert float(end[0]) == pytest.approx(float(out["window_end"][b]))
        if start[0] > 0:  # a later stream start
            moved["start"] += 1
            assert float(end[0]) == pytest.approx(float(batch["window_end"][b]))
        else:  # a stream only this long: END and the latent grid moved back
            moved["end"] += 1
            assert out["window_end"][b] < batch["window_end"][b]
        spikes = time[kept & (kind == SPIKE)]
        assert torch.all(spikes >= start[0] - 1e-9) and torch.all(spikes < end[0])
        assert torch.all(w[(q < start[0] - 1e-9) | (q >= end[0])] == 0)
        assert w.sum() > 0
    assert moved["start"] > 0 and moved["end"] > 0


@pytest.mark.parametrize("clip_prob", [0.0, 1.0])
def test_edge_weight_weights_the_window_end_in_causal_mode_only(data, clip_prob):
    wins = tiled_windows(data.segments("train"), 1.0, 0.5, CHUNK_S, cover_end=True)[:16]
    common = {**SMALL, "unit_dropout": False, "clip_prob": clip_prob}
    plain = built(POYOSS, data, **common)
    batch = pad_collate([plain._example(w) for w in wins])
    base = plain.augment(batch, np.random.default_rng(0))
    weighted = built(POYOSS, data, **common, edge_weight=4.0, edge_s=0.25).augment(batch, np.random.default_rng(0))
    edge = batch["query_time"] >= weighted["window_end"].unsqueeze(-1) - 0.25 - 1e-9  # the (clipped) window end
    assert torch.equal(weighted["window_end"], base["window_end"])
    assert torch.allclose(weighted["weights"][edge], 4 * base["weights"][edge])
    assert torch.equal(weighted["weights"][~edge], base["weights"][~edge])
    assert (base["weights"][edge] > 0).any() and (base["weights"][~edge] > 0).any()
    paper = built(POYOSS, data, **common, edge_weight=4.0, eval_mode="paper").augment(batch, np.random.default_rng(0))
    assert torch.equal(paper["weights"], batch["weights"])  # the paper's evaluation reads every position


def test_paper_mode_averages_overlapping_windows(data):
    model = built(POYOSS, data, **SMALL, eval_mode="paper")
    assert model.streams_like_predict is False
    assert built(POYOSS, data, **SMALL).streams_like_predict is True
    # a 2.15 s segment: 1 s windows every 0.5 s, plus one aligned to the end
    q = 10.005 + 0.01 * np.arange(215)
    seg = toy_segment(data.recording, 10.0, 12.15, q)
    by_hand = [(10.0, 11.0), (10.5, 11.5), (11.0, 12.0), (11.15, 12.15)]
    total, count = np.zeros((q.size, 2)), np.zeros(q.size)
    for s, e in by_hand:
        m = (q >= s) & (q < e)
        with torch.no_grad():
            total[m] += model.forward(pad_collate([model.encode(toy_segment(data.recording, s, e, q[m]))]))[0].numpy()
        count[m] += 1
    assert count.tolist() == [1] * 50 + [2] * 65 + [3] * 35 + [2] * 50 + [1] * 15
    np.testing.assert_allclose(model.predict([seg])[0], total / count[:, None], atol=1e-5)


def test_predict_lookahead_shifts_the_window_past_the_chunk(small, data):
    q = 10.005 + 0.01 * np.arange(300)
    seg = toy_segment(data.recording, 10.0, 13.0, q)
    np.testing.assert_array_equal(small.predict_lookahead([seg], 0.0)[0], small.predict([seg])[0])
    ahead = small.predict_lookahead([seg], 0.2)[0]
    i = 201  # query 12.015 s, chunk [12.0, 12.05): its window ends 0.2 s after the chunk
    with torch.no_grad():
        by_hand = small.forward(pad_collate([small.encode(toy_segment(data.recording, 11.25, 12.25, q[i : i + 1]))]))
    np.testing.assert_allclose(ahead[i], by_hand[0, 0].numpy(), atol=1e-5)
    assert not np.allclose(ahead, small.predict([seg])[0], atol=1e-3)
    with pytest.raises(ValueError, match="lookahead_s must be >= 0"):
        small.predict_lookahead([seg], -0.1)


def test_streaming_equals_offline_and_the_cache_forgets(small, data):
    segs = data.segments("test")[:3]
    for seg, off in zip(segs, small.predict(segs)):
        np.testing.assert_allclose(small.stream(seg, CHUNK_S), off, atol=1e-5, rtol=1e-5)
    # across one long stream the cache holds only the spikes of the last context_s
    small.reset(data.recording)
    for c in chunk_segment(segs[0], CHUNK_S):
        small.step(c)
        held = small.window_buffer.times()
        assert np.all(held >= max(segs[0].start, c.end - 1.0)) and np.all(held < c.end)


def test_fit_trains_and_gradients_reach_every_parameter(data):
    model = built(POYOSS, data, **SMALL, zero_init_residual=False)
    model.module.train()
    batch = pad_collate([model._example(w) for w in tiled_windows(data.segments("train"), 1.0, 0.5, CHUNK_S, cover_end=True)[:4]])
    model._loss(batch).backward()
    for name, p in model.module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if not name.startswith(("unit_emb", "session_emb")):
            assert p.grad.abs().sum() > 0, name
    fitted = POYOSS(POYOSS.Params(**SMALL), seed=0)
    report = fitted.fit([data], TrainConfig(epochs=2, batch_size=16), progress=False)
    assert report["epochs_run"] == 2 and np.isfinite(report["best_valid_loss"])


def _cross_attention_by_lag(block, rotary, lags, seed=0):
    """Mean attention weight of a query at time 0 on keys at each lag (random contents)."""
    from bench.nn.rotary import apply_rotary

    g = torch.Generator().manual_seed(seed)
    dim = block.norm_query.normalized_shape[0]
    n = lags.numel()
    attn = block.attn
    with torch.no_grad():
        q = attn.to_q(block.norm_query(torch.randn(8, 1, dim, generator=g))).unflatten(-1, (attn.heads, attn.dim_head))
        k = attn.to_kv(block.norm_context(torch.randn(8, n, dim, generator=g)))[..., : attn.heads * attn.dim_head]
        k = k.unflatten(-1, (attn.heads, attn.dim_head))
        q = apply_rotary(q, rotary(torch.zeros(8, 1, dtype=torch.float64)).unsqueeze(-2))
        k = apply_rotary(k, rotary(lags.expand(8, n)).unsqueeze(-2))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / attn.dim_head**0.5
        return scores.softmax(-1).mean((0, 1, 2))  # (n,)


def test_local_attention_init_makes_cross_attention_time_local_without_touching_content():
    from baselines.poyo.model import local_attention_init
    from bench.nn.rotary import RotaryCrossAttentionBlock, RotaryTimeEmbedding

    torch.manual_seed(0)
    block = RotaryCrossAttentionBlock(64, heads=2, dim_head=64, rotate_value=True)
    rotary = RotaryTimeEmbedding(64, t_min=1e-3, t_max=4.0)
    lags = torch.linspace(-0.5, 0.5, 201, dtype=torch.float64)
    near = lags.abs() < 0.05
    before = _cross_attention_by_lag(block, rotary, lags)
    x = torch.randn(5, 64)
    q_before = block.attn.to_q(block.norm_query(x))
    local_attention_init(block, rotary, scale=3.0, min_period=0.05)
    after = _cross_attention_by_lag(block, rotary, lags)
    # random init: attention nearly uniform over lags; local init: mass concentrated near lag 0
    assert before[near].sum() < 2 * near.float().mean()
    assert after[near].sum() > 0.5
    # the content path is unchanged: the query moves by the same constant for every input
    shift = block.attn.to_q(block.norm_query(x)) - q_before
    assert torch.allclose(shift, shift[:1].expand_as(shift), atol=1e-5)


@pytest.mark.parametrize("random_windows", [True, False])
def test_training_windows_are_redrawn_every_epoch(data, monkeypatch, random_windows):
    import baselines.poyo.decoder as decoder
    import bench.models.sliding as sliding

    calls = []

    def spy(real):
        def cut(segments, window_s, step_s, chunk_s, rng=None, cover_end=False, keep_empty=False):
            wins = real(segments, window_s, step_s, chunk_s, rng, cover_end, keep_empty)
            calls.append((window_s, rng is not None, cover_end, [w.start for w in wins]))
            return wins
        return cut

    monkeypatch.setattr(sliding, "tiled_windows", spy(sliding.tiled_windows))
    monkeypatch.setattr(decoder, "tiled_windows", spy(decoder.tiled_windows))
    model = POYOSS(POYOSS.Params(**SMALL, random_windows=random_windows), seed=0)
    model.fit([data], TrainConfig(epochs=3, batch_size=64, patience=5), progress=False)
    if random_windows:  # one fresh random draw of context-length windows per epoch
        assert len(calls) == 3 and all(w == pytest.approx(1.0) and r and not c for w, r, c, _ in calls)
        assert calls[0][3] != calls[1][3]
    else:  # cut once, before training, by POYO's fixed windows that cover every query
        assert len(calls) == 1 and calls[0][:3] == (1.0, False, True)


@pytest.mark.parametrize("random_windows", [True, False])
def test_train_windows_causal_trains_on_streaming_windows_without_clipping(data, monkeypatch, random_windows):
    import baselines.poyo.decoder as decoder

    seen = []
    real = decoder.trailing_windows

    def spy(segments, context_s, stride_s, chunk_s, rng=None):
        wins = real(segments, context_s, stride_s, chunk_s, rng)
        seen.append((rng is not None, len(wins), [s.duration for s in segments]))
        return wins

    monkeypatch.setattr(decoder, "trailing_windows", spy)
    model = POYOSS(POYOSS.Params(**SMALL, train_windows="causal", clip_prob=1.0, random_windows=random_windows),
                   seed=0)
    model.fit([data], TrainConfig(epochs=2, batch_size=64, patience=5), progress=False)
    if random_windows:  # the valid windows once, then a draw per epoch
        assert [r for r, _, _ in seen] == [False, True, True]
    else:  # the valid windows, then the training windows once, at the fixed phase
        assert [r for r, _, _ in seen] == [False, False]
    # cut from the whole training segments, never from windows already cut
    whole = [s.duration for s in data.segments("train")]
    assert all(durations == whole for _, _, durations in seen[1:])
    batch = pad_collate([model._example(w) for w in real(data.segments("train"), 1.0, 0.25, CHUNK_S)[:8]])
    out = model.augment(batch, np.random.default_rng(0))
    assert torch.equal(out["tok_time"], batch["tok_time"]) and torch.equal(out["window_end"], batch["window_end"])
