"""Rotary time embedding: log-spaced periods, the paper's block-diagonal rotation, exactness."""

from __future__ import annotations

import pytest
import torch

from bench.nn.rotary.embedding import RotaryTimeEmbedding, apply_rotary, logspace_periods
from tests.nn.rotary.helpers import C128, F64, paper_rotation_matrix


def test_periods_logspaced_between_tmin_and_tmax():
    emb = RotaryTimeEmbedding(64, t_min=1e-4, t_max=10.0, rotate_fraction=0.5)
    assert emb.rotate_dim == 32 and emb.n_pairs == 16
    p = emb.periods
    assert p[0].item() == pytest.approx(1e-4, rel=1e-12)
    assert p[-1].item() == pytest.approx(10.0, rel=1e-12)
    ratios = p[1:] / p[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios), rtol=1e-12)
    # RoFormer-style spacing stops one geometric step short of t_max
    q = logspace_periods(16, 1e-4, 10.0, endpoint=False)
    assert q[0].item() == pytest.approx(1e-4) and q[-1].item() == pytest.approx(1e-4 * 1e5 ** (15 / 16))
    # phasor layout: rotated pairs first, identity (1 + 0j) for the rest
    z = emb(torch.tensor([0.123, 7.5]), C128)
    assert z.shape == (2, 32)
    assert torch.equal(z[:, 16:], torch.ones(2, 16, dtype=C128))
    assert torch.allclose(z.abs(), torch.ones(2, 32, dtype=F64))


def test_rotation_matches_paper_block_diagonal_matrix():
    torch.manual_seed(0)
    head_dim = 16
    emb = RotaryTimeEmbedding(head_dim, t_min=1e-3, t_max=4.0, rotate_fraction=0.5)
    x = torch.randn(5, head_dim, dtype=F64)
    ts = torch.tensor([0.0, 0.0137, 0.5, 1.25, 3.9], dtype=F64)
    y = apply_rotary(x, emb(ts, C128))
    for i, t in enumerate(ts.tolist()):
        expected = paper_rotation_matrix(t, emb.periods, head_dim) @ x[i]
        assert torch.allclose(y[i], expected, atol=1e-12)


def test_rotation_preserves_norms_and_leaves_unrotated_dims():
    torch.manual_seed(1)
    emb = RotaryTimeEmbedding(64)
    x = torch.randn(3, 50, 2, 64, dtype=F64)
    t = torch.rand(3, 50, dtype=F64) * 5.0
    y = apply_rotary(x, emb(t, C128).unsqueeze(-2))
    assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1), atol=1e-12)
    pair_norm = lambda z: z.unflatten(-1, (32, 2)).norm(dim=-1)  # noqa: E731
    assert torch.allclose(pair_norm(y), pair_norm(x), atol=1e-12)
    assert torch.equal(y[..., 32:], x[..., 32:])
    assert not torch.allclose(y[..., :32], x[..., :32])


def test_rotation_round_trip_and_inverse_is_negative_time():
    torch.manual_seed(2)
    emb = RotaryTimeEmbedding(32, rotate_fraction=1.0)
    x = torch.randn(10, 32, dtype=F64)
    t = torch.rand(10, dtype=F64) * 3
    rot = emb(t, C128)
    assert torch.allclose(apply_rotary(apply_rotary(x, rot), rot, inverse=True), x, atol=1e-12)
    assert torch.allclose(apply_rotary(x, rot, inverse=True), apply_rotary(x, emb(-t, C128)), atol=1e-12)
    # composition: R(a) R(b) = R(a + b)
    t2 = torch.rand(10, dtype=F64)
    assert torch.allclose(apply_rotary(apply_rotary(x, rot), emb(t2, C128)), apply_rotary(x, emb(t + t2, C128)), atol=1e-10)


def test_float32_phasors_stay_exact_for_large_timestamps():
    emb = RotaryTimeEmbedding(64)
    t = torch.tensor([1234.56789], dtype=F64)
    z32 = emb(t)  # complex64
    z64 = emb(t, C128)
    assert (z32.to(C128) - z64).abs().max().item() < 1e-6


def test_only_float32_and_float64_are_rotated():
    rot = RotaryTimeEmbedding(8)(torch.rand(3))
    with pytest.raises(TypeError, match="bfloat16"):
        apply_rotary(torch.randn(3, 8, dtype=torch.bfloat16), rot)
