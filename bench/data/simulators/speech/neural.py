"""From attempted phonemes to neural features: articulatory latent, electrode tuning, drift, noise.

- The articulatory latent moves towards a target per phoneme class (fixed for the participant),
  smoothed forwards and backwards in time (coarticulation: a phoneme's articulation starts before
  and lingers after its slot), plus a "speaking" dimension that is high while words are attempted.
- Each electrode is tuned to the latent through a random weight vector, with its own lag (neural
  activity leads articulation by 0-80 ms) and an exponential-linear nonlinearity. Area 6v arrays
  are well tuned; area 44 arrays weakly (as reported for T12).
- Threshold crossings are Poisson counts of the rate per 20 ms bin; spike-band power is a
  continuous, less noisy readout of the same electrode's local population (its tuning partly
  shared with the crossings, partly from neighbouring cells the threshold misses).
- Slow within-session drift of each electrode's baseline, and day-to-day changes of baselines,
  gains and tuning (why the original GRU has one input layer per day).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.data.phonemes import N_CLASSES
from bench.data.simulators.speech.presets import ARRAYS, BIN_S, CHANNELS_PER_ARRAY

LATENT_DIM = 12
ARRAY_GAIN = {"6v_ventral": 1.0, "6v_dorsal": 0.8, "44_inferior": 0.12, "44_superior": 0.12}
TUNING_SD = 0.45  # spread of the electrodes' tuning weights (sets how decodable speech is)
BASE_RATE_HZ = (8.0, 40.0)  # range of the electrodes' baseline crossing rates
SBP_NOISE = 0.9  # SD of spike-band power noise relative to its tuned modulation
COARTICULATION_S = 0.035  # time constant of the forward and backward smoothing
DAY_TUNING_CHANGE = 0.12  # fraction of tuning variance replaced between consecutive days
DRIFT_SD, DRIFT_TAU_S = 0.15, 900.0  # within-session baseline drift (log units, time constant)
REST = N_CLASSES  # latent target row used outside trials


@dataclass
class Participant:
    """What is fixed across days: phoneme targets and the electrodes' base tuning."""

    targets: np.ndarray  # (N_CLASSES + 1, LATENT_DIM); row REST = rest posture
    weights: np.ndarray  # (256, LATENT_DIM) crossings tuning
    sbp_extra: np.ndarray  # (256, LATENT_DIM) tuning of cells seen only in spike-band power
    gain: np.ndarray  # (256,) array-dependent tuning depth
    base_log_rate: np.ndarray  # (256,)
    lags: np.ndarray  # (256,) bins by which activity leads articulation


def n_channels() -> int:
    return len(ARRAYS) * CHANNELS_PER_ARRAY


def channel_ids() -> np.ndarray:
    return np.array([f"{a}_{i:02d}" for a in ARRAYS for i in range(CHANNELS_PER_ARRAY)])


def make_participant(rng: np.random.Generator) -> Participant:
    n = n_channels()
    targets = rng.normal(0.0, 1.0, (N_CLASSES + 1, LATENT_DIM))
    targets[0] = 0.0  # the blank is never attempted
    targets[REST] = 0.0
    targets[N_CLASSES - 1] *= 0.3  # silence between words: close to rest
    targets[:, -1] = 1.0  # speaking dimension
    targets[[N_CLASSES - 1, REST], -1] = [0.5, 0.0]
    gain = np.repeat([ARRAY_GAIN[a] for a in ARRAYS], CHANNELS_PER_ARRAY)
    return Participant(
        targets=targets,
        weights=rng.normal(0.0, TUNING_SD, (n, LATENT_DIM)),
        sbp_extra=rng.normal(0.0, TUNING_SD, (n, LATENT_DIM)),
        gain=gain,
        base_log_rate=np.log(rng.uniform(*BASE_RATE_HZ, n)),
        lags=rng.integers(0, 5, n),
    )


@dataclass
class Day:
    """One day's version of the electrodes: tuning partly replaced, baselines and gains moved."""

    weights: np.ndarray
    sbp_weights: np.ndarray
    base_log_rate: np.ndarray
    gain: np.ndarray
    sbp_scale: np.ndarray


def day_tuning(p: Participant, day_index: int, rng_for_day) -> Day:
    """The electrodes on day ``day_index``: a random walk over days from the participant's tuning
    (day d's tuning is day d-1's with DAY_TUNING_CHANGE of its variance replaced)."""
    w, extra = p.weights.copy(), p.sbp_extra.copy()
    base, gain = p.base_log_rate.copy(), p.gain.copy()
    keep = np.sqrt(1.0 - DAY_TUNING_CHANGE)
    for d in range(1, day_index + 1):
        rng = rng_for_day(d)
        w = keep * w + np.sqrt(DAY_TUNING_CHANGE) * rng.normal(0.0, TUNING_SD, w.shape)
        extra = keep * extra + np.sqrt(DAY_TUNING_CHANGE) * rng.normal(0.0, TUNING_SD, w.shape)
        base = base + rng.normal(0.0, 0.2, base.shape)
        gain = gain * rng.lognormal(0.0, 0.1, gain.shape)
    rng = rng_for_day(day_index)
    return Day(w, 0.7 * w + 0.7 * extra, base, gain, rng.lognormal(0.0, 0.3, base.shape))


def latent_path(fine_classes: np.ndarray, p: Participant, fine_per_bin: int) -> np.ndarray:
    """Latent (n_bins, LATENT_DIM) from the attempted class at each fine step: targets averaged
    into bins, then smoothed forwards and backwards (coarticulation)."""
    x = p.targets[fine_classes]
    n_bins = x.shape[0] // fine_per_bin
    x = x[: n_bins * fine_per_bin].reshape(n_bins, fine_per_bin, -1).mean(axis=1)
    a = np.exp(-BIN_S / COARTICULATION_S)
    for order in (1, -1):
        x = x[::order].copy()
        for t in range(1, n_bins):
            x[t] = a * x[t - 1] + (1 - a) * x[t]
        x = x[::order]
    return x


def ou_drift(n_bins: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Slow per-electrode log-rate drift over a session (Ornstein-Uhlenbeck, coarse then held)."""
    step = 50  # one drift value per second
    n_coarse = n_bins // step + 2
    a = np.exp(-step * BIN_S / DRIFT_TAU_S)
    d = np.zeros((n_coarse, n))
    d[0] = rng.normal(0.0, DRIFT_SD, n)
    noise = rng.normal(0.0, DRIFT_SD * np.sqrt(1 - a * a), (n_coarse, n))
    for t in range(1, n_coarse):
        d[t] = a * d[t - 1] + noise[t]
    return np.repeat(d, step, axis=0)[:n_bins]


def features(latent: np.ndarray, p: Participant, day: Day, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Threshold crossings (n_bins, 256) counts and spike-band power (n_bins, 256) for a latent path."""
    n_bins, n = latent.shape[0], n_channels()
    # activity leads articulation: electrode e at bin t reflects the latent at t + lag_e
    drive, sbp_drive = np.empty((n_bins, n)), np.empty((n_bins, n))
    for lag in np.unique(p.lags):
        sel = p.lags == lag
        ahead = latent[np.minimum(np.arange(n_bins) + lag, n_bins - 1)]
        drive[:, sel] = ahead @ (day.weights[sel] * day.gain[sel, None]).T
        sbp_drive[:, sel] = ahead @ (day.sbp_weights[sel] * day.gain[sel, None]).T
    drift = ou_drift(n_bins, n, rng)
    log_rate = day.base_log_rate + drift + np.where(drive > 0, drive, np.expm1(np.minimum(drive, 0)))
    rate = np.exp(np.minimum(log_rate, np.log(400.0)))
    crossings = rng.poisson(rate * BIN_S).astype(np.float32)
    sbp = day.sbp_scale * (np.exp(day.base_log_rate + drift) / 10.0) * (
        1.0 + 0.5 * np.tanh(sbp_drive) + SBP_NOISE * 0.5 * rng.normal(0.0, 0.45, (n_bins, n))
    )
    return crossings, sbp.astype(np.float32)
