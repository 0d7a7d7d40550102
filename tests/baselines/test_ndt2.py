"""NDT-2: patching, count clipping, causality, window clipping, lag rule, streaming == offline, size."""

import dataclasses

import numpy as np
import pytest
import torch

from baselines.ndt2 import NDT2Decoder, NDT2Net, NDT2Params, bins_back, window_bins
from bench.models.base import chunk_segment
from bench.tasks.reach_direction import ReachDirection
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig
from tests.conftest import make_recording

CHUNK_S = 0.05
SMALL = NDT2Params(dim=64, heads=4, layers=2, decoder_layers=1, ffn_dim=128, patch_size=8, dropout=0.0)


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    return ReachingVelocity().prepare(make_recording(n_trials=24, n_units=20), CHUNK_S)


@pytest.fixture(scope="module")
def fitted(data):
    torch.set_num_threads(1)
    model = NDT2Decoder(NDT2Params(), seed=0)  # the default (paper-sized) configuration
    model.fit([data], TrainConfig(epochs=1, batch_size=16), progress=False)
    return model


def test_patches_of_32_zero_padded():
    torch.manual_seed(0)
    net = NDT2Net(NDT2Params(), n_units=70, n_sessions=1, n_subjects=1, n_out=2).eval()
    assert net.n_patches == 3
    counts = torch.randint(0, 4, (2, 5, 70))
    tok = net.patch_tokens(counts)
    assert tok.shape == (2, 5, 3, 256)
    padded = torch.cat([counts, torch.zeros(2, 5, 26, dtype=counts.dtype)], dim=-1)
    torch.testing.assert_close(tok, net.patch_tokens(padded), rtol=0, atol=0)
    # neuron k of patch p owns dims 8k..8k+7 of that patch's token: the padding neurons embed count 0
    pos = net.patch_pos.weight[2] + net.time_pos.weight[:5, None]
    last = (tok[:, :, 2] - pos[None, :, 0]).view(2, 5, 32, 8)
    torch.testing.assert_close(last[:, :, 6:], net.count_emb.weight[0].expand(2, 5, 26, 8))
    first = (tok[:, :, 0] - (net.patch_pos.weight[0] + net.time_pos.weight[:5])[None]).view(2, 5, 32, 8)
    torch.testing.assert_close(first, net.count_emb(counts[:, :, :32]))


def test_counts_are_clipped():
    net = NDT2Net(NDT2Params(max_count=5), n_units=40, n_sessions=1, n_subjects=1, n_out=2).eval()
    assert net.count_emb.num_embeddings == 6
    counts = torch.randint(0, 5, (1, 4, 40))
    high = counts.clone()
    high[0, 1, 3], high[0, 2, 39] = 17, 6
    clipped = high.clamp(max=5)
    torch.testing.assert_close(net.patch_tokens(high), net.patch_tokens(clipped), rtol=0, atol=0)
    assert not torch.equal(net.patch_tokens(high), net.patch_tokens(counts))


def test_attention_is_causal_in_time():
    torch.manual_seed(0)
    net = NDT2Net(SMALL, n_units=20, n_sessions=2, n_subjects=1, n_out=3).eval()
    torch.nn.init.normal_(net.head.weight)  # the head starts at zero (outputs = the mean)
    n, t = 12, 6
    counts = torch.randint(0, 3, (2, n, 20))
    later = counts.clone()
    later[:, t + 1 :] = torch.randint(0, 6, (2, n - t - 1, 20))
    s, u = torch.tensor([0, 1]), torch.tensor([0, 0])
    qb = torch.arange(-1, n).expand(2, n + 1)
    with torch.no_grad():
        a, b = net.encode(counts, s, u), net.encode(later, s, u)
        keep = 2 + (t + 1) * net.n_patches  # context tokens + every patch of bins <= t
        torch.testing.assert_close(a[:, :keep], b[:, :keep])
        assert not torch.allclose(a[:, keep:], b[:, keep:])
        ya, yb = net(counts, s, u, qb), net(later, s, u, qb)
    torch.testing.assert_close(ya[:, : t + 2], yb[:, : t + 2])  # queries of bins -1..t
    assert not torch.allclose(ya[:, t + 2 :], yb[:, t + 2 :])


def test_end_anchored_bins_and_lag_rule():
    b = 0.02
    # bin i (newest first) is [end - b (i+1), end - b i)
    assert bins_back(np.array([0.999, 0.98, 0.9799, 0.0]), 1.0, b).tolist() == [0, 0, 1, 49]
    # windows are clipped at the segment start; a clipped window's oldest bin is partial
    ends = np.array([10.05, 10.5, 11.0, 11.05])
    starts = np.maximum(10.0, ends - 1.0)  # the streaming windows (bench.models.windows)
    np.testing.assert_allclose(starts, [10.0, 10.0, 10.0, 10.05])
    assert window_bins(starts, ends, b).tolist() == [3, 25, 50, 50]
    model = NDT2Decoder(NDT2Params())
    # query at 11.04 in the chunk ending at 11.05 (window [10.05, 11.05), 50 bins): q - lag = 10.92
    # lies in bin i = ceil(0.13 / 0.02) - 1 = 6 from the end, i.e. j = 43 from the oldest (11.0: i = 8)
    q = np.array([11.04, 11.0])
    assert model._query_bins(q, 11.05, 10.05, 50).tolist() == [43, 41]
    # right after a reset, q - lag precedes the window: the "no data yet" query (-1)
    assert model._query_bins(np.array([10.01, 10.119, 10.12, 10.149]), 10.15, 10.0, 8).tolist() == [-1, -1, 0, 1]


def test_windows_never_reach_before_the_segment_start(fitted, data):
    seg = data.segments("test")[1]
    rec = seg.recording
    # add a burst of spikes in the second before the segment start: it must change nothing
    t_new = np.linspace(seg.start - 0.9, seg.start - 1e-4, 400)
    times = np.concatenate([rec.spike_times, t_new])
    units = np.concatenate([rec.spike_units, np.arange(400) % rec.n_units])
    order = np.argsort(times, kind="stable")
    noisy = dataclasses.replace(rec, spike_times=times[order], spike_units=units[order])
    noisy._views = {}
    seg2 = dataclasses.replace(seg, recording=noisy)
    np.testing.assert_array_equal(fitted.predict([seg])[0], fitted.predict([seg2])[0])
    # and the first chunk's window holds only the spikes of [start, first chunk end)
    counts, q_bins, _, _ = fitted.segment_windows(seg)
    first = chunk_segment(seg, CHUNK_S)[0]
    assert counts[0].sum() == first.spike_times.size


def test_streaming_equals_offline(fitted, data):
    segs = data.segments("test")[:2]
    for seg, off in zip(segs, fitted.predict(segs)):
        assert off.std(axis=0).min() > 1e-3  # outputs depend on the spikes (not a constant head)
        np.testing.assert_allclose(fitted.stream(seg, CHUNK_S), off, atol=1e-5, rtol=1e-5)


def test_streaming_equals_offline_classification():
    cdata = ReachDirection().prepare(make_recording(n_trials=30, n_units=20), CHUNK_S)
    model = NDT2Decoder(SMALL, seed=0)
    model.fit([cdata], TrainConfig(epochs=1, batch_size=16), progress=False)
    segs = cdata.segments("test")[:3]
    for seg, off in zip(segs, model.predict(segs)):
        assert off.shape == (1, cdata.spec.dim)
        np.testing.assert_allclose(model.stream(seg, CHUNK_S), off, atol=1e-5, rtol=1e-5)


def test_parameter_count_as_documented(fitted):
    # 6 x 256 encoder + 2-layer decoder with 2048-wide feed-forward: ~10.6M without the tables
    model = NDT2Decoder(NDT2Params())
    net = model.build_net([make_recording(n_trials=10, n_units=89)], n_out=2)
    model.module = net
    n = model.n_parameters()
    assert 10.5e6 < n < 10.8e6
    total = sum(p.numel() for p in net.parameters())
    assert total - n == net.session_emb.weight.numel() + net.subject_emb.weight.numel()
    # the usual 4x feed-forward gives the 6.4M model
    small = NDT2Decoder(NDT2Params(ffn_dim=1024))
    small.module = small.build_net([make_recording(n_trials=10, n_units=89)], n_out=2)
    assert 6.3e6 < small.n_parameters() < 6.5e6
    assert fitted.n_parameters() > 10e6


def test_gradients_reach_every_parameter(data):
    model = NDT2Decoder(SMALL, seed=0)
    model.spec, model.chunk_s = data.spec, data.chunk_s
    model.target_mean, model.target_std = np.zeros(2, np.float32), np.ones(2, np.float32)
    model.module = model.build([data])
    torch.nn.init.normal_(model.module.head.weight)  # the zero-initialised head would block the rest
    from bench.models.torch_decoder import pad_collate
    from bench.models.windows import tiled_windows

    wins = tiled_windows(data.segments("train"), 1.0, None, CHUNK_S)[:4]
    batch = pad_collate([model._example(w) for w in wins])
    assert batch["counts"].shape[1:] == (1, 50, 20)
    model.module.train()
    model._loss(batch).backward()
    for name, p in model.module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if name not in ("patch_pos.weight", "count_emb.weight", "time_pos.weight", "query_pos.weight"):
            assert p.grad.abs().sum() > 0, name
    assert model.module.count_emb.weight.grad.abs().sum() > 0


def test_training_windows_default_to_the_context(data, monkeypatch):
    seen = {}
    import bench.models.sliding as sliding

    real = sliding.tiled_windows

    def spy(segments, window_s, step_s, chunk_s, rng=None):
        seen["window_s"], seen["rng"] = window_s, rng
        return real(segments, window_s, step_s, chunk_s, rng)

    monkeypatch.setattr(sliding, "tiled_windows", spy)
    model = NDT2Decoder(SMALL.model_copy(update={"context_ms": 500.0}), seed=0)
    model.fit([data], TrainConfig(epochs=1, batch_size=32), progress=False)
    assert seen["window_s"] == pytest.approx(0.5)
    assert seen["rng"] is not None  # random window offsets every epoch
    enc = model.encode(data.segments("valid")[0])  # a 2 s segment: 4 tiles of 25 bins
    assert enc["counts"].shape[1:] == (25, 20)
