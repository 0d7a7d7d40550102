import cmath
import math

import pytest
import torch

from bench.nn.s4d import S4DBlock, S4DKernel, S4DLayer, S4DStack


def _layer(d_model=16, d_state=8, seed=0, dtype=torch.float32, **kw):
    torch.manual_seed(seed)
    layer = S4DLayer(d_model, d_state, **kw).to(dtype).eval()
    with torch.no_grad():
        # larger steps than the default init, so the kernel has structure within a few steps
        layer.kernel.log_dt.uniform_(math.log(0.05), math.log(1.0))
    return layer


def _step_through(module, x):
    state = module.init_state(x.shape[0], dtype=x.dtype)
    ys = []
    for t in range(x.shape[1]):
        y, state = module.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


def test_init_matches_s4d_spec():
    torch.manual_seed(0)
    k = S4DKernel(32, d_state=64, dt_min=1e-3, dt_max=1e-1)
    dt = k.log_dt.exp()
    assert dt.shape == (32,)
    assert (dt >= 1e-3 - 1e-9).all() and (dt <= 1e-1 + 1e-9).all()
    dtA, A, C, _ = k.ssm()
    assert A.shape == C.shape == (32, 32)
    assert torch.allclose(A.real, torch.full((32, 32), -0.5))
    assert torch.allclose(A.imag, math.pi * torch.arange(32.0).repeat(32, 1))
    assert C.is_complex()
    assert k.C.shape == (32, 32, 2)
    with pytest.raises(ValueError):
        S4DKernel(4, d_state=7)


def test_kernel_formula_matches_direct_loop():
    torch.manual_seed(1)
    H, N, L = 3, 6, 11
    k = S4DKernel(H, N).double()
    with torch.no_grad():
        k.log_A_real.normal_(0, 0.5)
        k.log_dt.uniform_(-3, 0)
    K = k(L)
    dt = k.log_dt.exp()
    ref = torch.zeros(H, L, dtype=torch.float64)
    for h in range(H):
        for n in range(N // 2):
            A = complex(-math.exp(k.log_A_real[h, n].item()), k.A_imag[h, n].item())
            C = complex(k.C[h, n, 0].item(), k.C[h, n, 1].item())
            d = dt[h].item()
            for l in range(L):
                ref[h, l] += 2 * (C * (cmath.exp(d * A) - 1) / A * cmath.exp(d * A * l)).real
    assert torch.allclose(K, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("L", [1, 7, 64, 100])
def test_convolution_equals_recurrence_float32(L):
    layer = _layer(d_model=16, d_state=16)
    x = torch.randn(4, L, 16)
    y_conv = layer(x)
    y_rec, _ = _step_through(layer, x)
    scale = y_conv.abs().max()
    assert (y_conv - y_rec).abs().max() <= 1e-5 * max(1.0, scale)


def test_convolution_equals_recurrence_ssm_only_float64():
    """The raw SSM output (before GELU/GLU), in double precision."""
    layer = _layer(d_model=5, d_state=10, dtype=torch.float64)
    L = 40
    u = torch.randn(2, L, 5, dtype=torch.float64)
    K = layer.kernel(L)  # (H, L)
    y_direct = torch.zeros(2, L, 5, dtype=torch.float64)
    for t in range(L):
        for s in range(t + 1):
            y_direct[:, t] += K[:, t - s] * u[:, s]
    dA, dB, C = layer.kernel.discretize()
    x = torch.zeros(2, 5, 5, dtype=torch.complex128)
    y_rec = []
    for t in range(L):
        x = dA * x + dB * u[:, t].unsqueeze(-1)
        y_rec.append(2 * (C * x).sum(-1).real)
    assert torch.allclose(y_direct, torch.stack(y_rec, 1), rtol=1e-9, atol=1e-10)


def test_causal():
    layer = _layer()
    x = torch.randn(2, 30, 16)
    y = layer(x)
    x2 = x.clone()
    x2[:, 17:] = torch.randn(2, 13, 16)
    y2 = layer(x2)
    assert torch.allclose(y[:, :17], y2[:, :17], atol=1e-6)
    assert not torch.allclose(y[:, 17:], y2[:, 17:])


def test_windowed_forward_with_state_equals_full():
    layer = _layer()
    x = torch.randn(3, 50, 16)
    y_full = layer(x)
    y1, s1 = layer(x[:, :20], return_state=True)
    y2, s2 = layer(x[:, 20:], state=s1, return_state=True)
    assert torch.allclose(torch.cat([y1, y2], 1), y_full, atol=1e-5)
    _, s_step = _step_through(layer, x)
    assert torch.allclose(s2, s_step, atol=1e-5)


def test_block_and_stack_streaming():
    torch.manual_seed(3)
    x = torch.randn(2, 25, 16)
    block = S4DBlock(16, 8).eval()
    y, _ = _step_through(block, x)
    assert torch.allclose(block(x), y, atol=1e-5)
    stack = S4DStack(16, n_layers=3, d_state=8).eval()
    y, _ = _step_through(stack, x)
    assert torch.allclose(stack(x), y, atol=1e-5)
    out, states = stack(x, return_state=True)
    assert len(states) == 3 and states[0].shape == (2, 16, 4)


def test_gradients_flow_and_dropout():
    torch.manual_seed(4)
    stack = S4DStack(8, n_layers=2, d_state=8, dropout=0.2).train()
    x = torch.randn(3, 12, 8, requires_grad=True)
    stack(x).pow(2).sum().backward()
    for name, p in stack.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert x.grad is not None


def test_ssm_parameters_carry_optimizer_hints():
    layer = S4DLayer(8, 8, lr=1e-3)
    assert layer.kernel.log_dt._optim == {"lr": 1e-3, "weight_decay": 0.0}
    assert layer.kernel.A_imag._optim["weight_decay"] == 0.0
    assert not hasattr(layer.output_linear.weight, "_optim")


def test_parameter_count():
    # C: H*N, log_dt: H, log_A_real + A_imag: H*N, D: H, output linear: 2H*H + 2H
    H, N = 64, 64
    n = sum(p.numel() for p in S4DLayer(H, N).parameters())
    assert n == H * N + H + H * N + H + 2 * H * H + 2 * H


def test_streaming_discretization_cache_follows_parameter_updates():
    layer = _layer(d_model=8, d_state=8)
    x = torch.randn(2, 8)
    with torch.no_grad():
        y1, _ = layer.step(x, layer.init_state(2))
        assert torch.equal(layer.step(x, layer.init_state(2))[0], y1)  # cached, same result
        layer.kernel.log_dt.add_(0.5)  # in-place update (as an optimiser does)
        y2, _ = layer.step(x, layer.init_state(2))
    with torch.enable_grad():
        y_fresh, _ = layer.step(x, layer.init_state(2))
    assert not torch.allclose(y1, y2)
    assert torch.allclose(y2, y_fresh.detach(), atol=1e-6)


def test_empty_sequence_keeps_state():
    layer = _layer()
    _, s = layer(torch.randn(2, 5, 16), return_state=True)
    y0, s0 = layer(torch.randn(2, 0, 16), state=s, return_state=True)
    assert y0.shape == (2, 0, 16) and torch.equal(s0, s)
