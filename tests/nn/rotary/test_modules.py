"""Rotary attention modules: relative timing, padding, masks, cached keys/values, gradients."""

from __future__ import annotations

import pytest
import torch

from bench.nn.rotary.embedding import RotaryTimeEmbedding
from bench.nn.rotary.modules import (
    RotaryCrossAttention,
    RotaryCrossAttentionBlock,
    RotarySelfAttentionBlock,
)
from tests.nn.rotary.helpers import C128, F64, cross, paper_rotation_matrix, randomise


def _cross(rotate_value: bool, dim=32, cdim=24, heads=2, dim_head=16, seed=0) -> RotaryCrossAttention:
    torch.manual_seed(seed)
    m = RotaryCrossAttention(dim, cdim, heads=heads, dim_head=dim_head, rotate_value=rotate_value).double()
    randomise(m)
    return m.eval()


def _scores(m: RotaryCrossAttention, xq, xc, rq, rc) -> torch.Tensor:
    q = m._query(xq, rq)
    k, _ = m.project_context(xc, rc)
    return torch.einsum("bqhd,bkhd->bhqk", q, k)


@pytest.mark.parametrize("rotate_value", [False, True])
def test_time_shift_invariance(rotate_value):
    m = _cross(rotate_value)
    emb = RotaryTimeEmbedding(16, t_min=1e-3, t_max=4.0)
    torch.manual_seed(5)
    xq, xc = torch.randn(2, 4, 32, dtype=F64), torch.randn(2, 9, 24, dtype=F64)
    tq, tc = torch.rand(2, 4, dtype=F64), torch.rand(2, 9, dtype=F64)
    shift = 1000.37
    args = (emb(tq, C128), emb(tc, C128))
    shifted = (emb(tq + shift, C128), emb(tc + shift, C128))
    s0, s1 = _scores(m, xq, xc, *args), _scores(m, xq, xc, *shifted)
    assert torch.allclose(s0, s1, atol=1e-9)
    y0, y1 = cross(m, xq, xc, *args), cross(m, xq, xc, *shifted)
    assert torch.allclose(y0, y1, atol=1e-9)
    # but moving the keys relative to the queries changes the output
    y2 = cross(m, xq, xc, args[0], emb(tc + 0.01, C128))
    assert (y2 - y0).abs().max() > 1e-3


def test_value_rotation_equals_direct_relative_formula():
    """z_q = sum_k a_qk R(t_k - t_q) v_k (the paper's 'direct but inefficient' form)."""
    m = _cross(True, heads=1, dim_head=16)
    emb = RotaryTimeEmbedding(16, t_min=1e-3, t_max=4.0)
    torch.manual_seed(6)
    xq, xc = torch.randn(1, 3, 32, dtype=F64), torch.randn(1, 7, 24, dtype=F64)
    tq, tc = torch.rand(1, 3, dtype=F64), torch.rand(1, 7, dtype=F64)
    y = cross(m, xq, xc, emb(tq, C128), emb(tc, C128))

    q = m.to_q(xq)[0]
    k, v = m.to_kv(xc)[0].chunk(2, dim=-1)
    R = lambda t: paper_rotation_matrix(t, emb.periods, 16)  # noqa: E731
    z = torch.zeros(3, 16, dtype=F64)
    for i in range(3):
        logits = torch.stack([(R(tq[0, i].item()) @ q[i]) @ (R(tc[0, j].item()) @ k[j]) for j in range(7)]) / 4.0
        a = logits.softmax(0)
        z[i] = sum(a[j] * (R(tc[0, j].item() - tq[0, i].item()) @ v[j]) for j in range(7))
    assert torch.allclose(y[0], m.to_out(z), atol=1e-10)


def test_padding_tokens_change_nothing():
    m = _cross(True)
    emb = RotaryTimeEmbedding(16)
    torch.manual_seed(7)
    lens = [5, 11, 1]
    xs = [torch.randn(n, 24, dtype=F64) for n in lens]
    ts = [torch.rand(n, dtype=F64) for n in lens]
    xq, tq = torch.randn(3, 2, 32, dtype=F64), torch.rand(3, 2, dtype=F64)
    n_max = 14
    xc = torch.randn(3, n_max, 24, dtype=F64) * 100  # garbage in the padding
    tc = torch.rand(3, n_max, dtype=F64) * 50
    mask = torch.zeros(3, n_max, dtype=torch.bool)
    for b, n in enumerate(lens):
        xc[b, :n], tc[b, :n], mask[b, :n] = xs[b], ts[b], True
    y = cross(m, xq, xc, emb(tq, C128), emb(tc, C128), context_mask=mask)
    for b, n in enumerate(lens):
        yb = cross(m, xq[b : b + 1], xs[b][None], emb(tq[b : b + 1], C128), emb(ts[b][None], C128))
        assert torch.allclose(y[b], yb[0], atol=1e-12)
    # different garbage, same result
    xc2 = torch.where(mask[..., None], xc, -xc)
    assert torch.allclose(cross(m, xq, xc2, emb(tq, C128), emb(tc, C128), context_mask=mask), y, atol=1e-12)


def test_queries_without_visible_keys_give_bias_not_nan():
    m = _cross(True)
    emb = RotaryTimeEmbedding(16)
    xq, xc = torch.randn(2, 3, 32, dtype=F64), torch.randn(2, 4, 24, dtype=F64)
    rq, rc = emb(torch.rand(2, 3, dtype=F64), C128), emb(torch.rand(2, 4, dtype=F64), C128)
    mask = torch.tensor([[False] * 4, [True] * 4])
    y = cross(m, xq, xc, rq, rc, context_mask=mask)
    assert torch.isfinite(y).all()
    assert torch.allclose(y[0], m.to_out.bias.expand(3, -1))
    assert torch.allclose(y[1], cross(m, xq[1:], xc[1:], rq[1:], rc[1:])[0])


def test_block_cached_kv_equals_recomputed():
    """A context normalised and projected once (``context_kv``, reused across query steps) gives
    what the block computes from the raw context."""
    torch.manual_seed(11)
    block = RotaryCrossAttentionBlock(32, 24, heads=2, dim_head=16, rotate_value=True).double().eval()
    randomise(block)
    emb = RotaryTimeEmbedding(16)
    xq, xc = torch.randn(1, 1, 32, dtype=F64), torch.randn(1, 30, 24, dtype=F64)
    rq, rc = emb(torch.rand(1, 1, dtype=F64), C128), emb(torch.rand(1, 30, dtype=F64), C128)
    kv = block.context_kv(xc, rc)
    assert torch.equal(block(xq, None, rq, None, kv=kv), block(xq, xc, rq, rc))
    with pytest.raises(ValueError, match="kv"):
        block(xq, None, rq, None)


def test_gradients_flow_to_all_parameters_and_inputs():
    torch.manual_seed(12)
    block = RotaryCrossAttentionBlock(32, 24, heads=2, dim_head=16, rotate_value=True)
    emb = RotaryTimeEmbedding(16)
    xq = torch.randn(2, 3, 32, requires_grad=True)
    xc = torch.randn(2, 10, 24, requires_grad=True)
    rq, rc = emb(torch.rand(2, 3)), emb(torch.rand(2, 10))
    y = block(xq, xc, rq, rc, context_mask=torch.rand(2, 10) > 0.2)
    y.pow(2).sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert xq.grad.abs().sum() > 0 and xc.grad.abs().sum() > 0


def test_self_block_runs_and_backprops():
    torch.manual_seed(13)
    block = RotarySelfAttentionBlock(32, heads=2, dim_head=16)
    emb = RotaryTimeEmbedding(16)
    x = torch.randn(2, 8, 32, requires_grad=True)
    y = block(x, emb(torch.rand(2, 8)))
    assert y.shape == x.shape
    y.sum().backward()
    assert all(p.grad is not None for p in block.parameters())


def test_float32_module_matches_float64():
    m64 = _cross(True)
    m32 = _cross(True).float()
    emb = RotaryTimeEmbedding(16)
    torch.manual_seed(14)
    xq, xc = torch.randn(2, 3, 32, dtype=F64), torch.randn(2, 20, 24, dtype=F64)
    tq, tc = torch.rand(2, 3, dtype=F64), torch.rand(2, 20, dtype=F64)
    y64 = cross(m64, xq, xc, emb(tq, C128), emb(tc, C128))
    y32 = cross(m32, xq.float(), xc.float(), emb(tq), emb(tc))
    assert torch.allclose(y32.double(), y64, atol=1e-4)
