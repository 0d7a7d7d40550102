"""S4D: the kernel formula, convolution = recurrence, causality, and the streaming stepper."""

import cmath
import math

import pytest
import torch

from bench.nn.s4d import S4DKernel, S4DLayer, S4DStack, S4DStepper


def _layer(d_model=16, d_state=8, seed=0, dtype=torch.float32, **kw):
    torch.manual_seed(seed)
    layer = S4DLayer(d_model, d_state, **kw).to(dtype).eval()
    with torch.no_grad():
        # larger steps than the default init, so the kernel has structure within a few steps
        layer.kernel.log_dt.uniform_(math.log(0.05), math.log(1.0))
    return layer


def _recurrence(layer: S4DLayer, u: torch.Tensor) -> torch.Tensor:
    """The layer computed step by step from its definition: x_t = dA x_{t-1} + dB u_t."""
    dA, dB, C = layer.kernel.discretize()
    x = torch.zeros(u.shape[0], layer.d_model, layer.d_state // 2, dtype=dA.dtype)
    ys = []
    for t in range(u.shape[1]):
        x = dA * x + dB * u[:, t].unsqueeze(-1)
        ys.append(2 * (C * x).sum(-1).real.to(u.dtype) + layer.D * u[:, t])
    return layer._output(torch.stack(ys, 1))


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
    with torch.no_grad():
        y_conv = layer(x)
        y_rec = _recurrence(layer, x)
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


@pytest.mark.parametrize("L", [1, 25])
def test_stepper_equals_stack_forward(L):
    torch.manual_seed(3)
    stack = S4DStack(16, n_layers=3, d_state=8).eval()
    with torch.no_grad():
        for block in stack.layers:
            block.layer.kernel.log_dt.uniform_(math.log(0.05), math.log(1.0))
        x = torch.randn(2, L, 16)
        stepper = S4DStepper(stack)
        state = stepper.init_state(2)
        ys = []
        for t in range(L):
            y, state = stepper.step(x[:, t], state)
            ys.append(y)
        assert torch.allclose(stack(x), torch.stack(ys, 1), atol=1e-5)
    assert len(state) == 3 and state[0].shape == (2, 16, 4) and state[0].is_complex()


def test_gradients_flow_and_dropout():
    torch.manual_seed(4)
    stack = S4DStack(8, n_layers=2, d_state=8, dropout=0.2).train()
    x = torch.randn(3, 12, 8, requires_grad=True)
    stack(x).pow(2).sum().backward()
    for name, p in stack.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert x.grad is not None


def test_dropout_drops_whole_channels_over_time():
    layer = S4DLayer(8, 8, dropout=0.5).train()
    torch.manual_seed(5)
    y = layer.dropout(torch.ones(4, 30, 8))
    per_channel = y.amax(1) - y.amin(1)  # one mask per (sample, channel): constant over time
    assert torch.equal(per_channel, torch.zeros(4, 8))
    assert set(y.unique().tolist()) == {0.0, 2.0}


def test_parameter_count():
    # C: H*N, log_dt: H, log_A_real + A_imag: H*N, D: H, output linear: 2H*H + 2H
    H, N = 64, 64
    n = sum(p.numel() for p in S4DLayer(H, N).parameters())
    assert n == H * N + H + H * N + H + 2 * H * H + 2 * H


def test_empty_sequence_gives_empty_output():
    assert _layer()(torch.randn(2, 0, 16)).shape == (2, 0, 16)
