"""The electrodes of a simulated participant and their day-to-day drift.

Each electrode's threshold crossings follow the attempted pen-tip velocity a little later in
time: exp-linear in a nonlinear (von Mises) directional tuning to the velocity ``lag`` seconds
ahead, scaled by speed, plus a condition-independent component that rises after the go cue
(the large movement-onset signal of motor cortex), on top of a baseline rate. Across days
(sessions) baselines and gains drift, the day's overall signal quality varies, preferred
directions rotate slowly and electrodes die.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

SPEED_REF = 5.0  # cm/s: speeds are measured against a typical writing speed
MAX_DRIVE = 4.0  # cap on the exponent: rates stay within ~50x of baseline
SESSION_QUALITY_SD = 0.25  # log SD of a day's overall tuning depth (array quality varies by day)


@dataclass(frozen=True)
class Electrodes:
    """Per-electrode tuning (all arrays of length n_electrodes)."""

    baseline_hz: np.ndarray
    preferred: np.ndarray  # preferred direction, radians
    concentration: np.ndarray  # von Mises kappa: sharper tuning for larger values
    depth: np.ndarray  # directional tuning depth
    speed_gain: np.ndarray
    onset_gain: np.ndarray  # weight of the condition-independent onset component
    lag_s: np.ndarray  # activity leads the movement by this long
    alive: np.ndarray  # bool: electrode still records crossings

    @property
    def n(self) -> int:
        return int(self.baseline_hz.size)


def participant(n_electrodes: int, seed: int) -> Electrodes:
    """The electrodes on the first recording day (drawn from the participant seed only)."""
    rng = np.random.default_rng([seed, 1915])
    return Electrodes(
        baseline_hz=np.exp(rng.normal(np.log(12.0), 0.75, n_electrodes)),
        preferred=rng.uniform(-np.pi, np.pi, n_electrodes),
        concentration=rng.uniform(0.5, 3.0, n_electrodes),
        depth=np.exp(rng.normal(np.log(0.6), 0.5, n_electrodes)) * (rng.random(n_electrodes) < 0.8),
        speed_gain=rng.normal(0.15, 0.2, n_electrodes),
        onset_gain=rng.normal(0.5, 0.35, n_electrodes),
        lag_s=rng.uniform(0.03, 0.15, n_electrodes),
        alive=np.ones(n_electrodes, bool),
    )


def drifted(e: Electrodes, day_index: int, rng: np.random.Generator, quality: float) -> Electrodes:
    """The same electrodes ``day_index`` sessions later: new baselines and gains (log-normal),
    preferred directions rotated by a random walk, a growing share of dead electrodes; ``quality``
    scales every tuning depth (how much of the writing the arrays pick up)."""
    walk = np.sqrt(max(day_index, 0))
    dead = rng.random(e.n) < 0.02 + 0.01 * day_index
    day_quality = quality * np.exp(rng.normal(0, SESSION_QUALITY_SD))  # some days record better than others
    return replace(
        e,
        baseline_hz=e.baseline_hz * np.exp(rng.normal(0, 0.25, e.n)),
        preferred=e.preferred + rng.normal(0, 0.12, e.n) * walk,
        depth=e.depth * np.exp(rng.normal(0, 0.15, e.n)) * day_quality,
        speed_gain=e.speed_gain * day_quality,
        onset_gain=e.onset_gain * np.exp(rng.normal(0, 0.15, e.n)),
        alive=e.alive & ~dead,
    )


def onset_profile(n_bins: int, go_bin: int, reaction_bins: int, bin_s: float) -> np.ndarray:
    """Condition-independent component: rises ~100 ms after the reaction time, then decays slowly."""
    t = (np.arange(n_bins) - go_bin - reaction_bins) * bin_s
    return np.where(t > 0, (1 - np.exp(-t / 0.08)) * np.exp(-t / 0.6), 0.0)


def rates(e: Electrodes, velocity: np.ndarray, onset: np.ndarray, bin_s: float, gain: np.ndarray) -> np.ndarray:
    """Expected crossings per second (bins, electrodes) for a trial's pen velocity (bins, 2);
    ``gain`` is the trial's per-electrode multiplicative gain (variability beyond Poisson)."""
    n_bins = velocity.shape[0]
    lag_bins = np.round(e.lag_s / bin_s).astype(int)
    idx = np.minimum(np.arange(n_bins)[:, None] + lag_bins[None, :], n_bins - 1)  # velocity ahead of activity
    vx, vy = velocity[idx, 0], velocity[idx, 1]
    speed = np.hypot(vx, vy) / SPEED_REF
    heading = np.arctan2(vy, vx)
    tuning = np.exp(e.concentration * (np.cos(heading - e.preferred) - 1.0))
    drive = e.depth * speed**0.7 * (2.0 * tuning - 0.6) + e.speed_gain * speed + e.onset_gain * onset[:, None]
    lam = e.baseline_hz * gain * np.exp(np.clip(drive, -MAX_DRIVE, MAX_DRIVE))
    return np.where(e.alive, lam, 0.05)
