"""Low-dimensional latent dynamics of motor cortex around each reach.

Three kinds of factors, each driven by the reach list of ``behaviour``:

- preparatory (4 dims): once a target is known the state settles towards a target-dependent
  point (a smooth, not purely cosine, function of reach direction) and collapses as movement
  starts. It is informative about the coming reach while the hand is still at rest, so a decoder
  must learn when not to move.
- rotational (2 planes): at movement onset the preparatory state seeds a damped rotation
  (1.5-2.5 Hz, jPCA-like), so activity during the reach depends on where preparation ended.
- condition-invariant (1 dim): a large movement-timing signal, the same for every direction.
- untracked (4 dims): slow fluctuations unrelated to the cursor (posture, force, attention...),
  shared by many neurons, so that population noise cannot be averaged away by more neurons.

The movement factors lead the hand by ~100-150 ms and vary from reach to reach (amplitude and
phase), as neural trajectories do for near-identical movements. Their scale is O(1) so neuron
loadings set the depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from bench.data.simulators.nhp.behaviour import CO_RADIUS, DT, Movements

N_PREP, N_ROT, N_CIS, N_UNTRACKED = 4, 4, 1, 4
N_LATENTS = N_PREP + N_ROT + N_CIS + N_UNTRACKED
UNTRACKED_TAU = 0.4  # s
NOMINAL_PEAK_SPEED = 30.0  # cm/s; reach vigour is measured relative to it


@dataclass(frozen=True)
class AnimalDynamics:
    """Per-animal constants of the latent dynamics (fixed across that animal's sessions)."""

    seed_map: np.ndarray  # (N_ROT, N_PREP): preparatory state -> rotation initial condition
    omega: np.ndarray  # (2,) angular frequencies of the two rotational planes (rad/s)
    prep_lead: float  # s before movement onset at which preparation hands over to rotation


def animal_dynamics(rng: np.random.Generator) -> AnimalDynamics:
    q, _ = np.linalg.qr(rng.standard_normal((N_ROT, N_PREP)))
    return AnimalDynamics(
        seed_map=q * 1.2,
        omega=2 * np.pi * np.array([rng.uniform(1.4, 1.8), rng.uniform(2.0, 2.6)]),
        prep_lead=float(rng.uniform(0.1, 0.14)),
    )


def _direction_code(displacement: np.ndarray) -> np.ndarray:
    """Preparatory target code: first and second angular harmonics of the reach direction,
    scaled by distance (so a linear read-out of direction is possible but imperfect)."""
    angle = np.arctan2(displacement[1], displacement[0])
    amp = np.sqrt(min(float(np.linalg.norm(displacement)) / CO_RADIUS, 1.5))
    return amp * np.array([np.cos(angle), np.sin(angle), 0.7 * np.cos(2 * angle + 0.6), 0.7 * np.sin(2 * angle + 0.6)])


def _gamma_bump(tau: np.ndarray, peak: float) -> np.ndarray:
    """Rise-and-decay envelope, 0 at tau <= 0, maximum 1 at tau = peak."""
    x = np.clip(tau, 0.0, None) / peak
    return x * np.exp(1.0 - x)


def latent_factors(moves: Movements, n_samples: int, dyn: AnimalDynamics, rng: np.random.Generator) -> np.ndarray:
    """Latent factors (n_samples, N_LATENTS) on the 100 Hz grid: movement factors summed over
    reaches, then the untracked ones."""
    z = np.zeros((n_samples, N_LATENTS))
    z[:, N_PREP + N_ROT + N_CIS :] = untracked_factors(n_samples, rng)
    m = moves.arrays()
    for cue, onset, dur, disp in zip(m["cue"], m["onset"], m["duration"], m["displacement"]):
        dist = float(np.linalg.norm(disp))
        vigour = 1.875 * dist / dur / NOMINAL_PEAK_SPEED  # peak speed of a minimum-jerk reach
        code = _direction_code(disp) * rng.lognormal(0.0, 0.3)
        phase = rng.normal(0.0, 0.4)
        handover = onset - dyn.prep_lead
        i0 = max(int(np.floor(min(cue + 0.08, onset - 0.15) / DT)), 0)
        i1 = min(int(np.ceil((onset + 1.2) / DT)), n_samples)
        if i0 >= i1:
            continue
        t = np.arange(i0, i1) * DT
        # preparation: exponential approach after the cue (80 ms visual latency), decay after handover
        rise = 1.0 - np.exp(-np.clip(t - cue - 0.08, 0.0, None) / 0.12)
        level_at_handover = 1.0 - np.exp(-max(handover - cue - 0.08, 0.0) / 0.12)
        prep = np.where(t < handover, rise, level_at_handover * np.exp(-(t - handover) / 0.1))
        z[i0:i1, :N_PREP] += prep[:, None] * code
        # rotation seeded by the preparatory state, amplitude scaled by vigour
        tau = t - handover
        x0 = dyn.seed_map @ code * vigour * (0.4 + 0.6 * level_at_handover)
        env = _gamma_bump(tau, 0.18)
        for p in range(2):
            ang = dyn.omega[p] * np.clip(tau, 0.0, None) + phase
            c, s = np.cos(ang), np.sin(ang)
            a, b = x0[2 * p], x0[2 * p + 1]
            z[i0:i1, N_PREP + 2 * p] += env * (c * a - s * b)
            z[i0:i1, N_PREP + 2 * p + 1] += env * (s * a + c * b)
        # condition-invariant timing signal
        cis = _gamma_bump(t - (onset - 0.15), 0.25) * np.sqrt(vigour) * rng.lognormal(0.0, 0.2)
        z[i0:i1, N_PREP + N_ROT] += cis
    return z


def untracked_factors(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance smooth random factors (n_samples, N_UNTRACKED), independent of behaviour."""
    a = np.exp(-DT / UNTRACKED_TAU)
    x = lfilter([np.sqrt(1 - a * a)], [1.0, -a], rng.standard_normal((n_samples, N_UNTRACKED)), axis=0)
    # a second pass smooths the path (no white-noise jitter) at the cost of a lower variance
    x = lfilter([1 - a], [1.0, -a], x, axis=0)
    return x / x.std(axis=0, keepdims=True)
