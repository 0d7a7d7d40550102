"""The pure-PyTorch selective scan equals a plain sequential loop, in values and gradients."""

import sys

import pytest
import torch

from bench.nn.mamba.scan import mamba_ssm_available, selective_scan_time_major
from tests.nn.mamba.reference import rel_err, selective_scan_reference


def _inputs(batch, dim, N, L, dtype=torch.float32, seed=0, delta_scale=1.0, a_max=4.0):
    """Time-major scan inputs: u, delta (L, batch, dim) with delta > 0; A (dim, N) < 0; B, C (L, batch, N)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(L, batch, dim, generator=g, dtype=dtype)
    delta = torch.rand(L, batch, dim, generator=g, dtype=dtype) * delta_scale + 1e-3
    A = -(torch.rand(dim, N, generator=g, dtype=dtype) * a_max + 0.1)
    B = torch.randn(L, batch, N, generator=g, dtype=dtype)
    C = torch.randn(L, batch, N, generator=g, dtype=dtype)
    return u, delta, A, B, C


def _reference(u, delta, A, B, C):
    """The reference loop in mamba-ssm's (batch, dim, L) layout, back to time-major."""
    return selective_scan_reference(u.permute(1, 2, 0), delta.permute(1, 2, 0), A,
                                    B.permute(1, 2, 0), C.permute(1, 2, 0)).permute(2, 0, 1)


@pytest.mark.parametrize("L", [1, 2, 7, 33, 100])
def test_scan_equals_reference_loop(L):
    args = _inputs(3, 12, 5, L, seed=L)
    y = selective_scan_time_major(*args)
    assert y.shape == (L, 3, 12)
    assert rel_err(y, _reference(*args)) < 1e-5


@pytest.mark.parametrize("delta_scale", [0.3, 6.0])
def test_strong_decay_stays_finite_and_exact(delta_scale):
    """Large dt * |A| (the state forgets within a step or two) loses nothing to rounding."""
    args = _inputs(2, 8, 16, 90, seed=5, delta_scale=delta_scale, a_max=30.0)
    y = selective_scan_time_major(*args)
    assert torch.isfinite(y).all()
    assert rel_err(y, _reference(*args)) < 1e-5


def test_gradcheck_float64():
    inputs = [t.clone().requires_grad_() for t in _inputs(2, 3, 4, 9, dtype=torch.float64, seed=11)]
    assert torch.autograd.gradcheck(selective_scan_time_major, inputs)


def test_gradients_match_reference_float32():
    base = _inputs(2, 16, 8, 45, seed=13)
    grads = []
    for fn in (_reference, selective_scan_time_major):
        inputs = [t.clone().requires_grad_() for t in base]
        fn(*inputs).sin().sum().backward()
        grads.append([t.grad for t in inputs])
    for g_ref, g in zip(*grads):
        assert rel_err(g, g_ref) < 1e-4


def test_float64_stays_float64():
    args = _inputs(2, 4, 3, 6, dtype=torch.float64, seed=2)
    y = selective_scan_time_major(*args)
    assert y.dtype == torch.float64
    assert torch.allclose(y, _reference(*args), atol=1e-12)


def test_mamba_ssm_not_imported_without_cuda():
    """CPU-only machines never import mamba-ssm, even when it is installed."""
    available = mamba_ssm_available()
    assert isinstance(available, bool)
    if not torch.cuda.is_available():
        already = "mamba_ssm" in sys.modules
        assert available is False
        selective_scan_time_major(*_inputs(1, 4, 2, 3))
        assert ("mamba_ssm" in sys.modules) == already
