"""Reference: torch_brain 0.1.2 (test-only dependency; skipped when it is not installed)."""

from __future__ import annotations

import pytest
import torch

from bench.nn.rotary import (
    RotaryCrossAttention,
    RotaryCrossAttentionBlock,
    RotarySelfAttention,
    RotaryTimeEmbedding,
    apply_rotary,
)
from tests.nn.rotary.helpers import C128, F64, cross, randomise


def _tb():
    tb = pytest.importorskip("torch_brain")
    if not tb.__version__.startswith("0.1."):  # 0.2 (the torchbrain extra) renamed and dropped these modules
        pytest.skip(f"torch_brain {tb.__version__} is installed; this reference is torch_brain 0.1.2 (the reference extra)")
    return pytest.importorskip("torch_brain.nn")


def _tb_embedding(tbn, emb: RotaryTimeEmbedding, exact: bool):
    ref = tbn.RotaryTimeEmbedding(head_dim=emb.head_dim, rotate_dim=emb.rotate_dim, t_min=emb.t_min, t_max=emb.t_max)
    if exact:  # their float32 frequency table, replaced by the same frequencies in float64
        ref = ref.double()
        with torch.no_grad():
            ref.omega.zero_()
            ref.omega[: emb.n_pairs] = emb.omega()
    return ref


def test_torch_brain_embedding_frequencies_and_layout():
    tbn = _tb()
    emb = RotaryTimeEmbedding(64, t_min=1e-4, t_max=10.0)
    ref = _tb_embedding(tbn, emb, exact=False)
    assert torch.allclose(ref.omega[:16].double(), emb.omega(), rtol=1e-6)
    assert torch.equal(ref.omega[16:], torch.zeros(16))
    # their (cos, sin) interleaved per pair == our phasor; compare rotations of basis vectors
    ref64 = _tb_embedding(tbn, emb, exact=True)
    t = torch.tensor([0.0, 0.0173, 0.6, 0.99], dtype=F64)
    x = torch.randn(4, 1, 64, dtype=F64)
    ours = apply_rotary(x, emb(t, C128)[:, None, :])
    theirs = tbn.RotaryTimeEmbedding.rotate(x[:, None], ref64(t)[:, None], unsqueeze_dim=2)[:, 0]
    assert (ours - theirs).abs().max().item() < 1e-12


def _copy_cross(tb_attn, ours: RotaryCrossAttention) -> None:
    with torch.no_grad():
        ours.to_q.weight.copy_(tb_attn.to_q.weight)
        ours.to_kv.weight.copy_(tb_attn.to_kv.weight)
        ours.to_out.weight.copy_(tb_attn.to_out.weight)
        ours.to_out.bias.copy_(tb_attn.to_out.bias)


@pytest.mark.parametrize("rotate_value", [False, True])
def test_matches_torch_brain_cross_attention(rotate_value):
    tbn = _tb()
    torch.manual_seed(16)
    dim, cdim, heads, dh = 48, 40, 2, 32
    ref = tbn.RotaryCrossAttention(dim=dim, context_dim=cdim, heads=heads, dim_head=dh, rotate_value=rotate_value)
    ref = ref.double().eval()
    randomise(ref)
    ours = RotaryCrossAttention(dim, cdim, heads=heads, dim_head=dh, rotate_value=rotate_value).double().eval()
    _copy_cross(ref, ours)
    emb = RotaryTimeEmbedding(dh, t_min=1e-4, t_max=10.0)
    ref_emb = _tb_embedding(tbn, emb, exact=True)
    xq, xc = torch.randn(3, 5, dim, dtype=F64), torch.randn(3, 17, cdim, dtype=F64)
    tq, tc = torch.rand(3, 5, dtype=F64), torch.rand(3, 17, dtype=F64)
    mask = torch.rand(3, 17) > 0.3
    mask[:, 0] = True
    y_ref = ref(xq, xc, ref_emb(tq), ref_emb(tc), mask)
    # torch_brain normalises inside its attention; ours takes normalised inputs
    y = cross(ours, ref.norm(xq), ref.norm_context(xc), emb(tq, C128), emb(tc, C128), context_mask=mask)
    assert (y - y_ref).abs().max().item() < 1e-10


@pytest.mark.parametrize("rotate_value", [False, True])
def test_matches_torch_brain_self_attention(rotate_value):
    tbn = _tb()
    torch.manual_seed(17)
    ref = tbn.RotarySelfAttention(dim=32, heads=4, dim_head=16, rotate_value=rotate_value).double().eval()
    randomise(ref)
    ours = RotarySelfAttention(32, heads=4, dim_head=16, rotate_value=rotate_value).double().eval()
    with torch.no_grad():
        ours.to_qkv.weight.copy_(ref.to_qkv.weight)
        ours.to_out.load_state_dict(ref.to_out.state_dict())
    emb = RotaryTimeEmbedding(16)
    ref_emb = _tb_embedding(tbn, emb, exact=True)
    x, t = torch.randn(2, 9, 32, dtype=F64), torch.rand(2, 9, dtype=F64)
    mask = torch.rand(2, 9) > 0.3
    mask[:, 0] = True
    y_ref = ref(x, ref_emb(t), mask)
    y = ours(ref.norm(x), emb(t, C128), mask)
    assert (y - y_ref).abs().max().item() < 1e-10


def test_matches_torch_brain_block_with_feedforward():
    """POYO/POSSM encoder block: x + attn(x, ctx), then x + FF(LN(x))."""
    tbn = _tb()
    torch.manual_seed(18)
    dim = 64
    ref_attn = tbn.RotaryCrossAttention(dim=dim, heads=1, dim_head=64, rotate_value=True).double().eval()
    ref_ff = torch.nn.Sequential(torch.nn.LayerNorm(dim), tbn.FeedForward(dim=dim, dropout=0.0)).double().eval()
    randomise(ref_attn)
    randomise(ref_ff)
    block = RotaryCrossAttentionBlock(dim, heads=1, dim_head=64, rotate_value=True).double().eval()
    with torch.no_grad():
        block.norm_query.load_state_dict(ref_attn.norm.state_dict())
        block.norm_context.load_state_dict(ref_attn.norm_context.state_dict())
        block.ff.norm.load_state_dict(ref_ff[0].state_dict())
        block.ff.net.load_state_dict(ref_ff[1].net.state_dict())
    _copy_cross(ref_attn, block.attn)
    emb = RotaryTimeEmbedding(64)
    ref_emb = _tb_embedding(tbn, emb, exact=True)
    xq, xc = torch.randn(1, 1, dim, dtype=F64), torch.randn(1, 200, dim, dtype=F64)
    tq, tc = torch.full((1, 1), 0.025, dtype=F64), torch.rand(1, 200, dtype=F64) * 0.05
    x = xq + ref_attn(xq, xc, ref_emb(tq), ref_emb(tc))
    y_ref = x + ref_ff(x)
    y = block(xq, xc, emb(tq, C128), emb(tc, C128))
    assert (y - y_ref).abs().max().item() < 1e-10


def test_float32_is_closer_to_exact_than_torch_brain():
    """torch_brain forms t * omega in float32 (~1e-3 rad error at t ~ 1 s for the 0.1 ms period);
    we reduce the angles in float64 first. Documented divergence: float32 outputs differ by ~1e-3."""
    tbn = _tb()
    torch.manual_seed(19)
    ref = tbn.RotaryCrossAttention(dim=64, heads=1, dim_head=64, rotate_value=True).eval()
    randomise(ref)
    ours = RotaryCrossAttention(64, heads=1, dim_head=64, rotate_value=True).eval()
    _copy_cross(ref, ours)
    emb = RotaryTimeEmbedding(64)
    xq, xc = torch.randn(2, 4, 64), torch.randn(2, 50, 64)
    # float32-representable timestamps, so that only the angle arithmetic differs
    tq, tc = torch.rand(2, 4).double(), torch.rand(2, 50).double()
    with torch.no_grad():
        exact = cross(ours.double(), ref.double().norm(xq.double()), ref.norm_context(xc.double()), emb(tq, C128),
                      emb(tc, C128))
        ours.float()
        ref.float()
        y = cross(ours, ref.norm(xq), ref.norm_context(xc), emb(tq.float()), emb(tc.float()))
        ref_emb = tbn.RotaryTimeEmbedding(head_dim=64, rotate_dim=32, t_min=1e-4, t_max=10.0)
        y_ref = ref(xq, xc, ref_emb(tq.float()), ref_emb(tc.float()))
    err_ours = (y.double() - exact).abs().max().item()
    err_ref = (y_ref.double() - exact).abs().max().item()
    scale = exact.abs().max().item()
    assert err_ours < 1e-5 * scale
    assert err_ours * 10 < err_ref, (err_ours, err_ref, scale)


def _to_tb_layout(z: torch.Tensor) -> torch.Tensor:
    """Our phasor (..., Dh/2) -> torch_brain's embedding (..., 2*Dh): per-dim cos then per-dim sin."""
    return torch.cat((z.real.repeat_interleave(2, -1), z.imag.repeat_interleave(2, -1)), dim=-1)


def test_matches_torch_brain_float32_given_same_rotations():
    tbn = _tb()
    torch.manual_seed(20)
    ref = tbn.RotaryCrossAttention(dim=64, heads=1, dim_head=64, rotate_value=True).eval()
    randomise(ref, std=0.1)
    ours = RotaryCrossAttention(64, heads=1, dim_head=64, rotate_value=True).eval()
    _copy_cross(ref, ours)
    emb = RotaryTimeEmbedding(64)
    xq, xc = torch.randn(2, 4, 64), torch.randn(2, 200, 64)
    rq, rc = emb(torch.rand(2, 4)), emb(torch.rand(2, 200))
    mask = torch.rand(2, 200) > 0.2
    with torch.no_grad():
        y_ref = ref(xq, xc, _to_tb_layout(rq), _to_tb_layout(rc), mask)
        y = cross(ours, ref.norm(xq), ref.norm_context(xc), rq, rc, context_mask=mask)
    assert (y - y_ref).abs().max().item() < 1e-5
