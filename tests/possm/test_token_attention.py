"""POSSM's fast input attention equals rotary cross-attention on rotated keys and values."""

import pytest
import torch

from bench import registry
from possm.model import POSSMNet


def net_and_tokens(heads: int, latents: int, seed: int = 0):
    torch.manual_seed(seed)
    params = registry.models.get("possm-gru").Params(enc_heads=heads, n_latents=latents, attn_dropout=0.0)
    net = POSSMNet(params, n_units=7, n_sessions=1, n_out=2)
    n, n_chunks = 60, 9
    unit = torch.randint(-1, 7, (n,))
    dt = (torch.rand(n) - 0.5) * 0.05
    chunk = torch.randint(0, n_chunks - 1, (n,))  # the last chunk holds no token
    return net, unit, dt, chunk, n_chunks


def reference(net, unit, dt, chunk, n_chunks):
    """The same attention through the generic modules: keys and values rotated per token."""
    table = net.token_kv_table()
    rows = torch.where(unit < 0, table.shape[0] - 1, unit)
    kv = net.encoder.attn.rotate_kv(table[rows], net.rotary(dt))
    q = net.latents.unsqueeze(0).expand(n_chunks, -1, -1)
    q_rot = net.rotary(torch.zeros(n_chunks, net.p.n_latents))
    return net.encoder.forward_segments(q, q_rot, kv, chunk).flatten(1)


@pytest.mark.parametrize("dense", [True, False])
def test_token_attention_equals_rotated_keys_and_values_with_gradients(dense, monkeypatch):
    import possm.model

    real = possm.model.token_attention
    monkeypatch.setattr(possm.model, "token_attention", lambda *a, **k: real(*a, **k, dense=dense))
    for heads, latents in [(1, 1), (2, 3)]:
        net, unit, dt, chunk, n_chunks = net_and_tokens(heads, latents)
        net.eval()
        fast = net.encode_chunks(unit, dt, chunk, n_chunks)
        slow = reference(net, unit, dt, chunk, n_chunks)
        assert torch.allclose(fast, slow, atol=1e-5), (fast - slow).abs().max()
        # the empty chunk: the latents through the residual feed-forward only, in both
        assert torch.allclose(fast[-1], slow[-1], atol=1e-6)
        g_fast = torch.autograd.grad(fast.square().sum(), net.unit_emb.weight)[0]
        g_slow = torch.autograd.grad(slow.square().sum(), net.unit_emb.weight)[0]
        assert torch.allclose(g_fast, g_slow, atol=1e-5 * max(1.0, g_slow.abs().max().item()))
        assert g_fast.abs().sum() > 0


def test_cached_phases_give_the_same_latents():
    net, unit, dt, chunk, n_chunks = net_and_tokens(1, 1)
    net.eval()
    cached = net.token_phases(dt)
    assert torch.equal(net.encode_chunks(unit, dt, chunk, n_chunks, phases=cached),
                       net.encode_chunks(unit, dt, chunk, n_chunks))
