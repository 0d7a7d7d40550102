"""S4D: diagonal structured state-space layer (Gu et al., 2022), with exact streaming.

Per channel h (d_model of them) the layer is a linear time-invariant SSM with a complex
diagonal state matrix, N/2 conjugate pairs (N = d_state), discretised with zero-order hold:

    A_n = -exp(log_A_real_n) + i A_imag_n          (init -0.5 + i pi n)
    dt  = exp(log_dt),  log_dt ~ U[log dt_min, log dt_max]
    dA  = exp(dt A),    dB = (exp(dt A) - 1) / A
    x_t = dA x_{t-1} + dB u_t,      y_t = 2 Re(sum_n C_n x_t,n) + D u_t

Training (``forward``) uses the equivalent convolution with the kernel
``K[l] = 2 Re(sum_n C_n dB_n dA_n^l)``, computed by FFT of length 2L.  Streaming
(``step``) runs the recurrence, one token at a time, at a cost independent of the position.
After the SSM: GELU, dropout, then a position-wise Linear to 2 d_model and a GLU.

Layout: (batch, length, d_model) everywhere.  The streaming state is complex,
(batch, d_model, d_state // 2).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.nn.frozen import FrozenLinear, frozen_norm

__all__ = ["S4DKernel", "S4DLayer", "S4DBlock", "S4DStack"]


def _complex_dtype(dtype: Optional[torch.dtype]) -> torch.dtype:
    if dtype is None:
        dtype = torch.get_default_dtype()
    if dtype.is_complex:
        return dtype
    return torch.complex128 if dtype == torch.float64 else torch.complex64


class S4DKernel(nn.Module):
    """Diagonal SSM parameters and their convolution kernel.

    ``lr`` (optional) is attached to the SSM parameters (log_dt, log_A_real, A_imag) as
    ``param._optim = {"lr": lr, "weight_decay": 0.0}``, the S4 convention for giving them a
    smaller learning rate and no weight decay; optimiser builders may honour it.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        lr: Optional[float] = None,
    ):
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
        for p in (self.log_dt, self.log_A_real, self.A_imag):
            p._optim = {"weight_decay": 0.0} if lr is None else {"lr": lr, "weight_decay": 0.0}

    def ssm(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(dtA, A, C) complex (H, N/2) and dt (H,) in the parameters' precision."""
        dt = torch.exp(self.log_dt)
        A = torch.complex(-torch.exp(self.log_A_real), self.A_imag)
        C = torch.view_as_complex(self.C.contiguous())
        dtA = A * dt.unsqueeze(-1)
        return dtA, A, C, dt

    def discretize(self) -> tuple[Tensor, Tensor, Tensor]:
        """Zero-order hold: (dA, dB, C), each complex (H, N/2).

        Without autograd (streaming inference) the result is cached until a parameter changes
        (in-place updates and ``load_state_dict`` bump the parameters' version counters).
        """
        params = (self.log_dt, self.log_A_real, self.A_imag, self.C)
        if not torch.is_grad_enabled():
            key = tuple((p._version, p.data_ptr(), p.dtype, p.device) for p in params)
            cached = getattr(self, "_discrete_cache", None)
            if cached is not None and cached[0] == key:
                return cached[1]
        dtA, A, C, _ = self.ssm()
        dA = torch.exp(dtA)
        dB = (dA - 1.0) / A
        if not torch.is_grad_enabled():
            self._discrete_cache = (key, (dA, dB, C))
        return dA, dB, C

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

    ``tie_dropout`` drops whole channels of a sample over time (as S4's reference code);
    False gives element-wise dropout.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        dropout: float = 0.0,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        lr: Optional[float] = None,
        tie_dropout: bool = True,
    ):
        super().__init__()
        self.d_model, self.d_state = d_model, d_state
        self.D = nn.Parameter(torch.randn(d_model))
        self.kernel = S4DKernel(d_model, d_state, dt_min=dt_min, dt_max=dt_max, lr=lr)
        self.activation = nn.GELU()
        if dropout > 0:
            self.dropout = _TiedDropout(dropout) if tie_dropout else nn.Dropout(dropout)
        else:
            self.dropout = nn.Identity()
        self.output_linear = nn.Linear(d_model, 2 * d_model)

    def init_state(self, batch_size: int, device=None, dtype=None) -> Tensor:
        """Zero complex state (batch, d_model, d_state // 2)."""
        device = device if device is not None else self.D.device
        dtype = _complex_dtype(dtype if dtype is not None else self.D.dtype)
        return torch.zeros(batch_size, self.d_model, self.d_state // 2, device=device, dtype=dtype)

    def _output(self, y: Tensor) -> Tensor:
        y = self.dropout(self.activation(y))
        return F.glu(self.output_linear(y), dim=-1)

    def forward(
        self, u: Tensor, state: Optional[Tensor] = None, return_state: bool = False
    ):
        """u (batch, L, H) -> (batch, L, H); optionally from / to a streaming state."""
        L = u.shape[1]
        if L == 0:  # empty input: empty output, state unchanged
            out = self._output(u)
            if not return_state:
                return out
            if state is None:
                state = self.init_state(u.shape[0], u.device, u.dtype)
            return out, state
        V, dB, C = self.kernel.vandermonde(L)
        K = 2 * torch.einsum("hn,hnl->hl", C * dB, V).real  # (H, L)
        n = 2 * L
        k_f = torch.fft.rfft(K.to(u.dtype), n=n, dim=-1).transpose(0, 1)  # (n//2+1, H)
        u_f = torch.fft.rfft(u, n=n, dim=1)  # (batch, n//2+1, H)
        y = torch.fft.irfft(u_f * k_f, n=n, dim=1)[:, :L]
        y = y + u * self.D
        if state is not None:
            # contribution of the initial state: 2 Re(sum_n C_n dA_n^(t+1) x0_n)
            dA = torch.exp(self.kernel.ssm()[0])
            W = (C * dA).unsqueeze(-1) * V  # (H, N/2, L)
            y = y + 2 * torch.einsum("bhn,hnl->blh", state.to(W.dtype), W).real.to(y.dtype)
        out = self._output(y)
        if not return_state:
            return out
        # final state: dA^L x0 + sum_s dA^(L-1-s) dB u_s
        uc = u.to(V.dtype)
        x_last = dB.unsqueeze(0) * torch.einsum("hnl,blh->bhn", V.flip(-1), uc)
        if state is not None:
            dA = torch.exp(self.kernel.ssm()[0])
            x_last = x_last + (dA * V[..., -1]).unsqueeze(0) * state.to(V.dtype)
        return out, x_last

    def step(self, u_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One token: u_t (batch, H) -> (y_t (batch, H), new state).  O(1) in the position."""
        dA, dB, C = self.kernel.discretize()
        state = torch.addcmul(dB * u_t.unsqueeze(-1), dA, state)
        y = torch.addcmul(2 * (C * state).sum(-1).real.to(u_t.dtype), self.D, u_t)
        return self._output(y), state


class S4DBlock(nn.Module):
    """Pre-norm residual block: x + dropout(S4DLayer(LayerNorm(x)))."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        dropout: float = 0.0,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        lr: Optional[float] = None,
        tie_dropout: bool = True,
        norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=norm_eps)
        self.layer = S4DLayer(
            d_model, d_state, dropout=dropout, dt_min=dt_min, dt_max=dt_max, lr=lr,
            tie_dropout=tie_dropout,
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def init_state(self, batch_size: int, device=None, dtype=None) -> Tensor:
        return self.layer.init_state(batch_size, device, dtype)

    def forward(self, x: Tensor, state: Optional[Tensor] = None, return_state: bool = False):
        if return_state:
            y, new_state = self.layer(self.norm(x), state=state, return_state=True)
            return x + self.dropout(y), new_state
        return x + self.dropout(self.layer(self.norm(x), state=state))

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        y, state = self.layer.step(self.norm(x_t), state)
        return x_t + self.dropout(y), state


class S4DStack(nn.Module):
    """``n_layers`` :class:`S4DBlock` s, then an optional final LayerNorm."""

    def __init__(
        self,
        d_model: int,
        n_layers: int,
        d_state: int = 64,
        dropout: float = 0.0,
        final_norm: bool = True,
        **block_kwargs,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            S4DBlock(d_model, d_state, dropout=dropout, **block_kwargs) for _ in range(n_layers)
        )
        self.norm_f = nn.LayerNorm(d_model) if final_norm else nn.Identity()

    def init_state(self, batch_size: int, device=None, dtype=None) -> list[Tensor]:
        return [layer.init_state(batch_size, device, dtype) for layer in self.layers]

    def forward(self, x: Tensor, state: Optional[list] = None, return_state: bool = False):
        new_states = []
        for i, layer in enumerate(self.layers):
            s = None if state is None else state[i]
            if return_state:
                x, s = layer(x, state=s, return_state=True)
                new_states.append(s)
            else:
                x = layer(x, state=s)
        x = self.norm_f(x)
        return (x, new_states) if return_state else x

    def step(self, x_t: Tensor, state: list) -> tuple[Tensor, list]:
        new_states = []
        for layer, s in zip(self.layers, state):
            x_t, s = layer.step(x_t, s)
            new_states.append(s)
        return self.norm_f(x_t), new_states


class S4DStepper:
    """Inference form of :meth:`S4DStack.step` for streaming (same outputs, fewer ops).

    The discretised SSM, norms and output projections are snapshots of the stack's weights taken
    at construction (build a new stepper after training). ``init_state`` / ``step`` as the stack's.
    """

    def __init__(self, stack: "S4DStack"):
        self.stack = stack
        self.layers = []
        with torch.no_grad():
            for block in stack.layers:
                layer = block.layer
                dA, dB, C = layer.kernel.discretize()
                self.layers.append((
                    frozen_norm(block.norm), dA.clone(), dB.clone(), 2 * C, layer.D.detach().clone(),
                    FrozenLinear(layer.output_linear),
                ))
            self.norm_f = frozen_norm(stack.norm_f)

    def init_state(self, batch_size: int, device=None, dtype=None) -> list[Tensor]:
        return self.stack.init_state(batch_size, device, dtype)

    def step(self, x_t: Tensor, state: list) -> tuple[Tensor, list]:
        new_states = []
        for (norm, dA, dB, C2, D, out), s in zip(self.layers, state):
            u = norm(x_t)
            s = torch.addcmul(dB * u.unsqueeze(-1), dA, s)
            y = torch.addcmul((C2 * s).sum(-1).real, D, u)
            x_t = x_t + F.glu(out(F.gelu(y)), dim=-1)
            new_states.append(s)
        return (x_t if self.norm_f is None else self.norm_f(x_t)), new_states
