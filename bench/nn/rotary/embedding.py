"""Rotary time embedding: continuous timestamps (seconds) as rotations of attention heads.

Specification: POYO paper (Azabou et al. 2023), appendix A.1, and the POSSM description. The head
dimension is cut into adjacent pairs ``(2i, 2i+1)``; pair ``i`` is rotated by ``R(t, T_i)`` =
``[[cos 2 pi t/T_i, -sin 2 pi t/T_i], [sin 2 pi t/T_i, cos 2 pi t/T_i]]`` (the paper's
block-diagonal ``R(t)``). Only the first ``rotate_fraction`` of the head dims is rotated
(PerceiverIO/POYO: half); the other pairs are identity blocks. The periods of the rotated pairs
are log-spaced from ``t_min`` to ``t_max``, both included (``endpoint=False`` gives the
RoFormer-style ``T_i = t_min (t_max/t_min)^(i/n)`` that stops one step short of ``t_max``).

Why phasors: a rotation is carried as a complex tensor ``exp(i 2 pi t / T)`` of shape
``(..., head_dim // 2)`` (``1 + 0j`` on the identity pairs), so applying it is one complex
multiply and its inverse is the conjugate. Compute it once per set of timestamps and share it
across layers. Angles are formed in float64, so rotations stay exact far from t = 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

_TWO_PI = 2.0 * math.pi
_COMPLEX_OF = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def logspace_periods(num: int, t_min: float, t_max: float, endpoint: bool = True) -> Tensor:
    """``num`` periods log-spaced from ``t_min`` (float64, so that large angles stay exact).

    ``endpoint=True``: ``T_i = t_min (t_max/t_min)^(i/(num-1))``, both ends included.
    ``endpoint=False``: ``T_i = t_min (t_max/t_min)^(i/num)`` (RoFormer/POYO-formula style).
    """
    if num <= 0:
        return torch.zeros(0, dtype=torch.float64)
    if not (0 < t_min <= t_max):
        raise ValueError(f"need 0 < t_min <= t_max, got {t_min}, {t_max}")
    i = torch.arange(num, dtype=torch.float64)
    denom = (num - 1 if endpoint else num) or 1
    return t_min * (t_max / t_min) ** (i / denom)


class RotaryTimeEmbedding(nn.Module):
    """Turns timestamps (seconds) into rotations for :func:`apply_rotary`.

    Args:
        head_dim: attention head dimension (even).
        t_min, t_max: shortest and longest rotation period in seconds (POSSM: 1e-4 s and 10 s;
            the POYO paper: 1 ms and 4 s).
        rotate_fraction: fraction of the head dims that is rotated (0.5: head_dim/2 dims form
            head_dim/4 rotation pairs, the remaining dims pass through unchanged).
        endpoint: whether the largest period equals ``t_max`` (see :func:`logspace_periods`).

    ``forward(t)`` returns the complex phasor ``exp(i * 2 pi * t / T_j)`` of shape
    ``t.shape + (head_dim // 2,)`` (identity ``1 + 0j`` for the pairs that are not rotated).
    Angles, cosines and sines are computed in float64 before the cast, so rotations stay exact
    for timestamps far from zero (a float32 product ``t * omega`` is already ~1e-3 rad off at
    t = 1 s for the 0.1 ms period). The timestamps themselves should be float64 or
    window-relative if they are large: float32 cannot resolve 0.1 ms at t = 3600 s.
    """

    def __init__(
        self,
        head_dim: int,
        t_min: float = 1e-4,
        t_max: float = 10.0,
        rotate_fraction: float = 0.5,
        endpoint: bool = True,
    ) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"head_dim must be even, got {head_dim}")
        rotate_dim = int(round(head_dim * rotate_fraction))
        if rotate_dim % 2 or not 0 <= rotate_dim <= head_dim:
            raise ValueError(f"head_dim * rotate_fraction must be an even number <= head_dim, got {rotate_dim}")
        self.head_dim = head_dim
        self.rotate_dim = rotate_dim
        self.n_pairs = rotate_dim // 2
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self.endpoint = endpoint
        periods = logspace_periods(self.n_pairs, t_min, t_max, endpoint)
        # Plain float64 attributes, not buffers: ``module.float()`` must not truncate them.
        self.periods: Tensor = periods
        # zero frequency for the identity pairs: angle exactly 0, phasor exactly 1 + 0j
        self._omega64: Tensor = torch.cat(
            (_TWO_PI / periods, torch.zeros(head_dim // 2 - self.n_pairs, dtype=torch.float64))
        )

    def _omega_full(self, device: torch.device) -> Tensor:
        if self._omega64.device != device:
            self._omega64 = self._omega64.to(device)
        return self._omega64

    def omega(self, device: torch.device | str | None = None) -> Tensor:
        """Angular frequencies ``2 pi / T_j`` of the rotated pairs (float64, shape ``(n_pairs,)``)."""
        device = torch.device(device) if device is not None else self._omega64.device
        return self._omega_full(device)[: self.n_pairs]

    def forward(self, timestamps: Tensor, dtype: torch.dtype = torch.complex64) -> Tensor:
        """Phasors ``exp(i 2 pi t / T_j)``, shape ``t.shape + (head_dim // 2,)``, complex ``dtype``.

        The pairs that are not rotated get the phasor ``1 + 0j`` (exact identity), so that
        :func:`apply_rotary` is one full-width complex multiply with no slicing or concatenation.
        """
        a = timestamps.to(torch.float64).unsqueeze(-1) * self._omega_full(timestamps.device)
        if dtype == torch.complex128:
            return torch.complex(torch.cos(a), torch.sin(a))
        if dtype != torch.complex64:
            raise ValueError(f"dtype must be complex64 or complex128, got {dtype}")
        # cos/sin in float64 (exact range reduction for large angles), then cast
        return torch.complex(torch.cos(a).float(), torch.sin(a).float())

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, rotate_dim={self.rotate_dim}, t_min={self.t_min}, "
            f"t_max={self.t_max}, endpoint={self.endpoint}"
        )


def apply_rotary(x: Tensor, rot: Tensor, inverse: bool = False) -> Tensor:
    """Rotate the first ``2 * rot.shape[-1]`` dims of ``x`` pairwise by the phasor ``rot``.

    ``x``: ``(..., head_dim)`` float32 / float64; ``rot``: complex, broadcastable to ``x.shape[:-1] + (n_pairs,)``
    (insert singleton axes for heads yourself). ``inverse=True`` applies ``R(-t)`` (the
    counter-rotation). Pair ``(x0, x1)`` maps to ``(c x0 - s x1, s x0 + c x1)``.
    """
    p = rot.shape[-1]
    r = 2 * p
    if p == 0:
        return x
    ctype = _COMPLEX_OF.get(x.dtype)
    if ctype is None:
        raise TypeError(f"apply_rotary rotates float32 or float64 tensors, got {x.dtype}")
    if rot.dtype != ctype:
        rot = rot.to(ctype)
    if inverse:
        rot = rot.conj()
    pairs = x[..., :r].unflatten(-1, (p, 2))
    try:
        xc = torch.view_as_complex(pairs)
    except RuntimeError:  # strides not compatible with a complex view
        xc = torch.view_as_complex(pairs.contiguous())
    yr = torch.view_as_real(xc * rot).flatten(-2)
    if r == x.shape[-1]:
        return yr
    return torch.cat((yr, x[..., r:]), dim=-1)
