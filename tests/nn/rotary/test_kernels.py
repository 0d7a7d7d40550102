"""Attention kernels: segment attention equals padded attention; hidden rows give zeros, not NaN."""

import torch

from bench.nn.rotary.kernels import count_attention, masked_attention, segment_attention


def test_segment_attention_equals_padded_attention():
    torch.manual_seed(0)
    lengths = [3, 0, 7, 1]
    S, Nq, H, Dh = len(lengths), 2, 2, 8
    q = torch.randn(S, Nq, H, Dh)
    k = torch.randn(sum(lengths), H, Dh)
    v = torch.randn(sum(lengths), H, Dh)
    segment = torch.repeat_interleave(torch.arange(S), torch.tensor(lengths))
    out = segment_attention(q, k, v, segment)
    L = max(lengths)
    kp, vp = torch.zeros(S, L, H, Dh), torch.zeros(S, L, H, Dh)
    mask = torch.zeros(S, L, dtype=torch.bool)
    start = 0
    for s, n in enumerate(lengths):
        kp[s, :n], vp[s, :n], mask[s, :n] = k[start : start + n], v[start : start + n], True
        start += n
    ref = masked_attention(q.transpose(1, 2), kp.transpose(1, 2), vp.transpose(1, 2), mask[:, None, None, :])
    torch.testing.assert_close(out, ref.transpose(1, 2), atol=1e-6, rtol=1e-5)
    assert torch.all(out[1] == 0)  # a segment without tokens gives zeros


def test_masked_attention_rows_without_keys_are_zero():
    torch.manual_seed(1)
    q, k, v = torch.randn(2, 1, 3, 4), torch.randn(2, 1, 5, 4), torch.randn(2, 1, 5, 4)
    mask = torch.ones(2, 1, 3, 5, dtype=torch.bool)
    mask[0, 0, 1] = False  # query 1 of sample 0 sees nothing
    out = masked_attention(q, k, v, mask)
    assert torch.equal(out[0, 0, 1], torch.zeros(4))
    full = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out[1], full[1])
    torch.testing.assert_close(out[0, 0, [0, 2]], full[0, 0, [0, 2]])


def test_count_attention_equals_segment_attention_over_repeated_tokens():
    """A token kind held c times weighs c; gradients match too; an empty segment gives zeros."""
    torch.manual_seed(0)
    S, Nq, H, Dh, R = 5, 4, 2, 8, 7
    q = torch.randn(Nq, H, Dh, requires_grad=True)
    k, v = torch.randn(R, H, Dh), torch.randn(R, H, Dh)
    counts = torch.randint(0, 3, (S, R)).float()
    counts[2] = 0
    seg, rows = torch.nonzero(counts, as_tuple=True)
    reps = counts[seg, rows].long()
    seg, rows = seg.repeat_interleave(reps), rows.repeat_interleave(reps)
    expected = segment_attention(q.expand(S, -1, -1, -1), k[rows], v[rows], seg)
    got = count_attention(q, k, v, counts)
    assert torch.allclose(got, expected, atol=1e-6)
    assert got[2].abs().max() == 0
    (g_expected,) = torch.autograd.grad(expected.square().sum(), q)
    (g_got,) = torch.autograd.grad(got.square().sum(), q)
    assert torch.allclose(g_got, g_expected, atol=1e-5) and torch.isfinite(g_got).all()
