"""S4D: diagonal structured state-space layer (Gu et al., 2022), with exact streaming.

Per channel h (d_model of them) the layer is a linear time-invariant SSM with a complex
diagonal state matrix, N/2 conjugate pairs (N = d_state), discretised with zero-order hold:

    A_n = -exp(log_A_real_n) + i A_imag_n          (init -0.5 + i pi n)
    dt  = exp(log_dt),  log_dt ~ U[log dt_min, log dt_max]
    dA  = exp(dt A),    dB = (exp(dt A) - 1) / A
    x_t = dA x_{t-1} + dB u_t,      y_t = 2 Re(sum_n C_n x_t,n) + D u_t

Training (``forward``) uses the equivalent convolution with the kernel
``K[l] = 2 Re(sum_n C_n dB_n dA_n^l)``, computed by FFT of length 2L: one pass however long the
sequence. Streaming (:class:`S4DStepper`) runs the recurrence, one token at a time, at a cost
independent of the position. After the SSM: GELU, dropout, then a position-wise Linear to
2 d_model and a GLU.

Layout: (batch, length, d_model) everywhere.  The streaming state is complex,
(batch, d_model, d_state // 2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.nn.frozen import FrozenLayerNorm, FrozenLinear

__all__ = ["S4DKernel", "S4DLayer", "S4DBlock", "S4DStack", "S4DStepper"]


class S4DKernel(nn.Module):
    """Diagonal SSM parameters and their convolution kernel."""

    def __init__(self, d_model: int, d_state: int = 64, dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        if d_state % 2:
            raise ValueError(f"d_state must be even (conjugate pairs), got {d_state}")
        H, N2 = d_model, d_state // 2
        self.d_model, self.d_state = d_model, d_state
        log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        C = torch.randn(H, N2, dtype=torch.cfloat)
        self.C = nn.Parameter(torch.view_as_real(C).clone())  # (H, N/2, 2): real, imag
        self.log_dt = nn.Parameter(log_dt)
        self.log_A_real = nn.Parameter(torch.full((H, N2), math.log(0.5)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N2, dtype=torch.float32).repeat(H, 1))

    def ssm(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(dtA, A, C) complex (H, N/2) and dt (H,) in the parameters' precision."""
        dt = torch.exp(self.log_dt)
        A = torch.complex(-torch.exp(self.log_A_real), self.A_imag)
        C = torch.view_as_complex(self.C.contiguous())
        dtA = A * dt.unsqueeze(-1)
        return dtA, A, C, dt

    def discretize(self) -> tuple[Tensor, Tensor, Tensor]:
        """Zero-order hold: (dA, dB, C), each complex (H, N/2)."""
        dtA, A, C, _ = self.ssm()
        dA = torch.exp(dtA)
        return dA, (dA - 1.0) / A, C

    def vandermonde(self, L: int) -> tuple[Tensor, Tensor, Tensor]:
        """(V, dB, C) with V[h, n, l] = dA_hn^l = exp(l dt A_hn), l = 0..L-1."""
        dtA, A, C, _ = self.ssm()
        dB = (torch.exp(dtA) - 1.0) / A
        pos = torch.arange(L, device=dtA.device, dtype=dtA.real.dtype)
        V = torch.exp(dtA.unsqueeze(-1) * pos)  # (H, N/2, L)
        return V, dB, C

    def forward(self, L: int) -> Tensor:
        """Kernel K (H, L): K[h, l] = 2 Re(sum_n C_hn dB_hn exp(dt_h A_hn l))."""
        V, dB, C = self.vandermonde(L)
        return 2 * torch.einsum("hn,hnl->hl", C * dB, V).real


class _TiedDropout(nn.Module):
    """Dropout with one mask per (sample, channel), shared over time (S4's DropoutNd)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:  # (batch, L, H)
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], 1, x.shape[-1], device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


class S4DLayer(nn.Module):
    """S4D layer: SSM (FFT convolution) + D skip -> GELU -> dropout -> Linear(2H) -> GLU.

    Dropout drops whole channels of a sample over time (as S4's reference code).
    """

    def __init__(self, d_model: int, d_state: int = 64, dropout: float = 0.0):
        super().__init__()
        self.d_model, self.d_state = d_model, d_state
        self.D = nn.Parameter(torch.randn(d_model))
        self.kernel = S4DKernel(d_model, d_state)
        self.activation = nn.GELU()
        self.dropout = _TiedDropout(dropout) if dropout > 0 else nn.Identity()
        self.output_linear = nn.Linear(d_model, 2 * d_model)

    def _output(self, y: Tensor) -> Tensor:
        y = self.dropout(self.activation(y))
        return F.glu(self.output_linear(y), dim=-1)

    def forward(self, u: Tensor) -> Tensor:
        """u (batch, L, H) -> (batch, L, H)."""
        L = u.shape[1]
        if L == 0:  # an FFT of length 0 is an error; an empty input has an empty output
            return self._output(u)
        V, dB, C = self.kernel.vandermonde(L)
        K = 2 * torch.einsum("hn,hnl->hl", C * dB, V).real  # (H, L)
        n = 2 * L
        k_f = torch.fft.rfft(K.to(u.dtype), n=n, dim=-1).transpose(0, 1)  # (n//2+1, H)
        u_f = torch.fft.rfft(u, n=n, dim=1)  # (batch, n//2+1, H)
        y = torch.fft.irfft(u_f * k_f, n=n, dim=1)[:, :L]
        return self._output(y + u * self.D)


class S4DBlock(nn.Module):
    """Pre-norm residual block: x + dropout(S4DLayer(LayerNorm(x)))."""

    def __init__(self, d_model: int, d_state: int = 64, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.layer = S4DLayer(d_model, d_state, dropout=dropout)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.dropout(self.layer(self.norm(x)))


class S4DStack(nn.Module):
    """``n_layers`` :class:`S4DBlock` s, then a final LayerNorm."""

    def __init__(self, d_model: int, n_layers: int, d_state: int = 64, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(S4DBlock(d_model, d_state, dropout=dropout) for _ in range(n_layers))
        self.norm_f = nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.norm_f(x)


class S4DStepper:
    """Streaming form of :class:`S4DStack`: one token per call, the recurrence instead of the FFT.

    The discretised SSM, norms and output projections are snapshots of the stack's weights taken
    at construction (build a new stepper after the weights change), so a batch-1 step is a few
    single ops; it equals the stack's forward at every step.
    """

    def __init__(self, stack: S4DStack):
        self.layers = []
        with torch.no_grad():
            for block in stack.layers:
                layer = block.layer
                dA, dB, C = layer.kernel.discretize()
                self.layers.append((
                    FrozenLayerNorm(block.norm), dA.clone(), dB.clone(), 2 * C, layer.D.detach().clone(),
                    FrozenLinear(layer.output_linear),
                ))
            self.norm_f = FrozenLayerNorm(stack.norm_f)
        first = stack.layers[0].layer
        self._state_shape = (first.d_model, first.d_state // 2)
        self._device, self._dtype = first.D.device, first.D.dtype

    def init_state(self, batch_size: int, device=None, dtype=None) -> list[Tensor]:
        """Per layer a zero complex state (batch, d_model, d_state // 2)."""
        device = device if device is not None else self._device
        real = dtype if dtype is not None else self._dtype
        complex_dtype = real if real.is_complex else (torch.complex128 if real == torch.float64 else torch.complex64)
        return [torch.zeros(batch_size, *self._state_shape, device=device, dtype=complex_dtype) for _ in self.layers]

    def step(self, x_t: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """One token: x_t (batch, d_model) -> (y_t (batch, d_model), new state)."""
        new_states = []
        for (norm, dA, dB, C2, D, out), s in zip(self.layers, state):
            u = norm(x_t)
            s = torch.addcmul(dB * u.unsqueeze(-1), dA, s)
            y = torch.addcmul((C2 * s).sum(-1).real, D, u)
            x_t = x_t + F.glu(out(F.gelu(y)), dim=-1)
            new_states.append(s)
        return self.norm_f(x_t), new_states
