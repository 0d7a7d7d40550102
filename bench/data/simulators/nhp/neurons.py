"""Neurons: each animal's fixed pool, which of them a session records, and their firing rates.

Every pool neuron has its own random generator (seeded by seed, animal and index), so neuron 17
of monkey C is the same cell in every preset, scale and session of that animal. Across days its
baseline rate, tuning depth and preferred direction drift slowly (smooth random functions of the
calendar day), and it is recorded only on days when it is "visible" on the array, so sessions
share part of their units.

Rates: ``rate = scale * softplus(depth * drive - threshold) * gain``. ``drive`` mixes the hand's
velocity (speed times a von Mises direction tuning, cosine-like to narrow), position and speed
50-150 ms in the future with the latent factors of ``dynamics``. High thresholds give an
exponential (GLM-like) regime, low ones a nearly rectified-linear one; together with narrow
direction tuning this is what a linear decoder cannot fully undo. ``gain`` is a slow log-normal
fluctuation (shared and private), which makes counts over-dispersed (Fano > 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from bench.data.simulators.nhp.behaviour import DT
from bench.data.simulators.nhp.dynamics import N_LATENTS, N_UNTRACKED
from bench.data.simulators.nhp.presets import stable_hash

N_MOVEMENT_LATENTS = N_LATENTS - N_UNTRACKED
VEL_SCALE, POS_SCALE = 20.0, 8.0  # cm/s and cm that make kinematic features O(1)
N_DRIFT_TERMS = 3


@dataclass(frozen=True)
class NeuronPool:
    """Fixed properties of an animal's neurons (arrays indexed by pool index)."""

    animal: str
    base_rate: np.ndarray  # Hz, log-normal across neurons
    depth: np.ndarray  # overall tuning depth (near 0 for untuned neurons)
    threshold: np.ndarray  # softplus threshold: high = exponential regime
    lag: np.ndarray  # s by which the neuron leads the hand
    pd_vel: np.ndarray  # preferred velocity direction (rad)
    kappa: np.ndarray  # direction-tuning sharpness (0: cosine tuning; larger: narrower)
    w_vel: np.ndarray
    pd_pos: np.ndarray
    w_pos: np.ndarray
    w_speed: np.ndarray
    loading: np.ndarray  # (n, N_LATENTS)
    drift_period: np.ndarray  # (n, 4, N_DRIFT_TERMS) days: rate, depth, direction, visibility
    drift_phase: np.ndarray  # (n, 4, N_DRIFT_TERMS)

    def __len__(self) -> int:
        return int(self.base_rate.size)


def _one_neuron(rng: np.random.Generator) -> dict:
    """Draw one neuron: ~15% untuned, ~25% weakly tuned, the rest well tuned; ~40% 'PMd-like'
    (latent-dominated, longer lead), the rest 'M1-like' (kinematics-dominated). Baseline rates
    are log-normal (median 14 Hz, mean ~20 Hz, most within 2-60 Hz)."""
    kind = rng.choice(3, p=[0.15, 0.25, 0.6])
    depth = [rng.uniform(0.0, 0.08), rng.uniform(0.15, 0.35), rng.uniform(0.4, 1.1)][kind]
    pmd = rng.random() < 0.4
    latent_sd = 0.45 if pmd else 0.25
    return dict(
        base_rate=float(np.clip(14.0 * rng.lognormal(0.0, 0.8), 1.5, 90.0)),
        depth=depth,
        threshold=rng.uniform(0.0, 3.0),
        lag=rng.uniform(0.08, 0.15) if pmd else rng.uniform(0.05, 0.12),
        pd_vel=rng.uniform(0, 2 * np.pi),
        kappa=rng.uniform(0.2, 2.5),
        w_vel=rng.uniform(0.3, 0.7) if pmd else rng.uniform(0.6, 1.0),
        pd_pos=rng.uniform(0, 2 * np.pi),
        w_pos=rng.uniform(0.1, 0.7),
        w_speed=rng.normal(0.3, 0.3),
        loading=np.concatenate([rng.normal(0.0, latent_sd, N_MOVEMENT_LATENTS), rng.normal(0.0, 0.25, N_UNTRACKED)]),
        drift_period=np.exp(rng.uniform(np.log(20.0), np.log(1000.0), (4, N_DRIFT_TERMS))),
        drift_phase=rng.uniform(0, 2 * np.pi, (4, N_DRIFT_TERMS)),
    )


def animal_pool(animal: str, size: int, seed: int) -> NeuronPool:
    """The first ``size`` neurons of an animal (a neuron does not depend on the pool size)."""
    rows = [_one_neuron(np.random.default_rng([seed, stable_hash(animal), k])) for k in range(size)]
    cols = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return NeuronPool(animal=animal, **cols)


def _drift(pool: NeuronPool, which: int, day: int) -> np.ndarray:
    """Smooth random function of the calendar day, unit variance, one per neuron: nearby days
    get similar values, days years apart independent ones."""
    ang = 2 * np.pi * day / pool.drift_period[:, which] + pool.drift_phase[:, which]
    return np.sqrt(2.0 / N_DRIFT_TERMS) * np.cos(ang).sum(axis=1)


def recorded_units(pool: NeuronPool, day: int, n_units: int, rng: np.random.Generator) -> np.ndarray:
    """Pool indices recorded on ``day``: the most 'visible' neurons that day (slow drift plus
    session noise), sorted."""
    score = _drift(pool, 3, day) + 0.5 * rng.standard_normal(len(pool))
    return np.sort(np.argsort(-score)[:n_units])


@dataclass(frozen=True)
class SessionTuning:
    """Tuning of the recorded neurons on one day (pool values after drift)."""

    rate: np.ndarray
    depth: np.ndarray
    threshold: np.ndarray
    lag_bins: np.ndarray
    vel_dir: np.ndarray  # (n, 2) unit vectors
    kappa: np.ndarray
    w_vel: np.ndarray
    pos_dir: np.ndarray  # (n, 2)
    w_pos: np.ndarray
    w_speed: np.ndarray
    loading: np.ndarray

    def subset(self, sel: slice) -> SessionTuning:
        return SessionTuning(**{k: getattr(self, k)[sel] for k in self.__dataclass_fields__})


def session_tuning(pool: NeuronPool, units: np.ndarray, day: int, quality: float = 1.0) -> SessionTuning:
    """Drifted tuning on ``day``: baselines vary ~30% and depths ~15% (log scale) and preferred
    directions ~7 degrees across days; ``quality`` scales all tuning depths (dataset difficulty)."""
    pd = pool.pd_vel + 0.12 * _drift(pool, 2, day)
    return SessionTuning(
        rate=(pool.base_rate * np.exp(0.3 * _drift(pool, 0, day)))[units],
        depth=(quality * pool.depth * np.exp(0.15 * _drift(pool, 1, day)))[units],
        threshold=pool.threshold[units],
        lag_bins=np.round(pool.lag[units] / DT).astype(np.int64),
        vel_dir=np.stack([np.cos(pd), np.sin(pd)], axis=1)[units],
        kappa=pool.kappa[units],
        w_vel=pool.w_vel[units],
        pos_dir=np.stack([np.cos(pool.pd_pos), np.sin(pool.pd_pos)], axis=1)[units],
        w_pos=pool.w_pos[units],
        w_speed=pool.w_speed[units],
        loading=pool.loading[units],
    )


SHARED_GAIN = (2.0, 0.12)  # (time constant s, log-sd) of the population-wide gain
PRIVATE_GAIN = (0.8, 0.18)  # same, for each neuron's own gain


def ou_process(n_series: int, n_samples: int, tau: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary unit-variance Ornstein-Uhlenbeck series (n_series, n_samples) on the 100 Hz grid."""
    a = np.exp(-DT / tau)
    start = a * rng.standard_normal((n_series, 1))  # stationary initial state
    noise = rng.standard_normal((n_series, n_samples))
    out, _ = lfilter([np.sqrt(1 - a * a)], [1.0, -a], noise, axis=1, zi=start)
    return out


def slow_gain(shared: np.ndarray, private: np.ndarray) -> np.ndarray:
    """Multiplicative gain with mean 1 from unit-variance shared (1, n) and private (units, n)
    fluctuations: a doubly stochastic Poisson process, hence Fano factors above 1 and weak
    noise correlations between neurons."""
    s_sh, s_pr = SHARED_GAIN[1], PRIVATE_GAIN[1]
    return np.exp(s_sh * shared + s_pr * private - 0.5 * (s_sh**2 + s_pr**2))


def _direction_tuning(cos_angle: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """Von Mises direction tuning rescaled to peak 1 and mean 0 over directions: cosine tuning
    for small kappa, a narrow peak for large kappa (which a linear read-out captures poorly)."""
    i0 = np.i0(kappa)[:, None]
    return (np.exp(kappa[:, None] * cos_angle) - i0) / (np.exp(kappa[:, None]) - i0)


def _kinematic_drive(tuning: SessionTuning, vel: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Kinematic part of the drive (n_units, n_samples), each neuron seeing the hand ``lag``
    ahead: speed x direction tuning, position (posture) and speed terms. Neurons sharing a lag
    are handled together (there are only ~10 distinct lags)."""
    n = vel.shape[0]
    speed = np.hypot(vel[:, 0], vel[:, 1])
    heading = vel / np.maximum(speed, 1e-6)[:, None]
    feats = np.stack([*heading.T, speed / VEL_SCALE, *(pos / POS_SCALE).T])  # (5, n)
    pos_w = tuning.pos_dir * tuning.w_pos[:, None]
    drive = np.empty((tuning.rate.size, n))
    for lag in np.unique(tuning.lag_bins):
        rows = np.flatnonzero(tuning.lag_bins == lag)
        ahead = np.concatenate([feats[:, lag:], np.repeat(feats[:, -1:], lag, axis=1)], axis=1)
        spd = ahead[2]
        direction = _direction_tuning(tuning.vel_dir[rows] @ ahead[:2], tuning.kappa[rows])
        drive[rows] = (
            tuning.w_vel[rows, None] * direction * spd
            + tuning.w_speed[rows, None] * spd
            + pos_w[rows] @ ahead[3:]
        )
    return drive


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(np.minimum(x, 50.0)))


def firing_rates(
    tuning: SessionTuning, vel: np.ndarray, pos: np.ndarray, latents: np.ndarray, gain: np.ndarray
) -> np.ndarray:
    """Rates (n_units, n_samples) in Hz on the 100 Hz grid. Activity leads the hand by each
    neuron's lag; a neuron's mean rate over the session equals its drifted baseline."""
    drive = _kinematic_drive(tuning, vel, pos)
    drive += tuning.loading @ latents.T
    drive *= tuning.depth[:, None]
    drive -= tuning.threshold[:, None]
    rates = _softplus(drive)
    rates *= (tuning.rate / np.maximum(rates.mean(axis=1), 1e-9))[:, None]
    rates *= gain
    return rates
