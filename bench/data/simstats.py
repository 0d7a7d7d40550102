"""Side-by-side statistics of simulated sessions and small real motor-cortex recordings.

The point is a sanity check of the simulator's realism with numbers computed the same way on
both: firing-rate distribution, spike-count variability (Fano factors) and how well a plain
linear filter decodes velocity. Every dataset is first reduced to the same form, a list
of trials binned at 20 ms (``_Trial``), and all statistics are computed from that form.

Real data (optional, from ``shared/realdata``):

- ``imperial_bmi``: 98 units, spike counts in 20 ms bins, hand position; trials of 19-39 bins
  starting 180 ms before movement, 8 reach directions.
- ``ee239as_center_out``: 97 units, 1 ms spike matrices of 700 ms per trial, 8 directions, no
  kinematics (so no decoding score).

Conventions: rates are over trial time. ``fano_100ms`` is the classic across-trial Fano factor:
counts in 100 ms windows at a fixed time from a trial-aligned event, variance over trials of the
same condition divided by their mean, averaged over conditions and windows, then over units
firing above 1 Hz (simulated random-target sessions have no condition, hence no value).
``fano_20ms`` is the variance over mean of all 20 ms counts in trials (signal included).
``linear_r2``: ridge regression (alpha 1) of velocity on the counts of the current and 4
previous 20 ms bins, trials split 80/20 at random (seed 0), R^2 averaged over x and y.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

BIN_S = 0.02
FANO_WINDOW_BINS = 5  # 100 ms
N_LAGS = 5
MIN_RATE_HZ = 1.0


@dataclass
class _Trial:
    counts: np.ndarray  # (n_bins, n_units) spike counts in 20 ms bins
    vel: np.ndarray | None  # (n_bins, 2) or None
    condition: int  # reach direction / target, -1 if none
    aligned: np.ndarray | None = None  # (n_windows, n_units) counts in aligned 100 ms windows


# ----------------------------------------------------------------------------- loaders


def _bin(times: np.ndarray, units: np.ndarray, n_units: int, start: float, n_bins: int, width: float) -> np.ndarray:
    """Counts (n_bins, n_units) on bins [start + i*width, start + (i+1)*width)."""
    lo, hi = np.searchsorted(times, [start, start + n_bins * width])
    idx = np.minimum(((times[lo:hi] - start) / width).astype(np.int64), n_bins - 1)
    return np.bincount(idx * n_units + units[lo:hi], minlength=n_bins * n_units).reshape(n_bins, n_units).astype(float)


def _simulated_trials(path: Path) -> tuple[list[_Trial], dict]:
    """Valid trials of one simulated session, binned at 20 ms; aligned windows start 200 ms
    before movement onset, as the real data are aligned."""
    from bench.data.storage import load_recording

    rec = load_recording(path)
    b = rec.behaviour
    reach = rec.phases.get("reach_period")
    trials = []
    for s, e, target, ok in zip(rec.trials.start, rec.trials.end, rec.trials.target_id, rec.trials.is_valid):
        if not ok:
            continue
        n_bins = int((e - s) / BIN_S)
        counts = _bin(rec.spike_times, rec.spike_units, rec.n_units, s, n_bins, BIN_S)
        centres = s + (np.arange(n_bins) + 0.5) * BIN_S
        vel = np.stack([np.interp(centres, b.timestamps, b.vel[:, d]) for d in range(2)], axis=1)
        aligned = None
        if rec.task_type == "center_out" and reach is not None:
            onset = _movement_onset(rec, reach.start[np.searchsorted(reach.start, s)])
            aligned = _bin(rec.spike_times, rec.spike_units, rec.n_units, onset - 0.2, 7, 0.1)
        trials.append(_Trial(counts, vel, int(target) if rec.task_type == "center_out" else -1, aligned))
    info = dict(
        source="simulator",
        dataset=rec.brainset,
        session=rec.recording_id,
        units=rec.n_units,
        trials=len(rec.trials),
        duration_s=rec.duration,
        spikes=int(rec.spike_times.size),
    )
    return trials, info


def _movement_onset(rec, go: float, threshold: float = 5.0) -> float:
    """First time after the go cue at which cursor speed exceeds ``threshold`` cm/s."""
    b = rec.behaviour
    i0 = np.searchsorted(b.timestamps, go)
    fast = np.flatnonzero(np.hypot(b.vel[i0:, 0], b.vel[i0:, 1]) > threshold)
    return float(b.timestamps[i0 + fast[0]]) if fast.size else go


def _imperial_trials(folder: Path) -> tuple[list[_Trial], dict] | None:
    """imperial_bmi: counts in 20 ms bins, velocity = diff of x, y position within a trial."""
    feats, targets = folder / "monkey_features_300.csv", folder / "monkey_targets_300.csv"
    if not (feats.is_file() and targets.is_file()):
        return None
    x = np.loadtxt(feats, delimiter=",")
    y = np.loadtxt(targets, delimiter=",")
    trials = []
    for tid in np.unique(y[:, 4]):
        rows = np.flatnonzero(y[:, 4] == tid)
        vel = np.diff(y[rows, :2], axis=0) / BIN_S
        counts = x[rows[1:]]  # the bin at the end of each position difference
        aligned = x[rows[: 3 * FANO_WINDOW_BINS]].reshape(3, FANO_WINDOW_BINS, -1).sum(axis=1)
        trials.append(_Trial(counts, vel, int(y[rows[0], 3]), aligned))
    info = dict(
        source="real",
        dataset="imperial_bmi",
        session="monkey_300",
        units=x.shape[1],
        trials=len(trials),
        duration_s=x.shape[0] * BIN_S,
        spikes=int(x.sum()),
    )
    return trials, info


def _ee239as_trials(folder: Path) -> tuple[list[_Trial], dict] | None:
    """ee239as centre-out: 1 ms spike matrices (97 x 700) per trial and direction, no kinematics."""
    path = folder / "ps4_realdata.mat"
    if not path.is_file():
        return None
    from scipy.io import loadmat

    mat = loadmat(path)
    trials = []
    for key in ("train_trial", "test_trial"):
        arr = mat[key]
        for i in range(arr.shape[0]):
            for d in range(arr.shape[1]):
                ms = np.asarray(arr[i, d]["spikes"], np.float64)  # (units, 1 ms bins)
                n20 = ms.shape[1] // 20
                counts = ms[:, : n20 * 20].reshape(ms.shape[0], n20, 20).sum(axis=2).T
                aligned = ms[:, : ms.shape[1] // 100 * 100].reshape(ms.shape[0], -1, 100).sum(axis=2).T
                trials.append(_Trial(counts, None, d, aligned))
    n_units = trials[0].counts.shape[1]
    info = dict(
        source="real",
        dataset="ee239as_center_out",
        session="ps4_realdata",
        units=n_units,
        trials=len(trials),
        duration_s=sum(t.counts.shape[0] for t in trials) * BIN_S,
        spikes=int(sum(t.counts.sum() for t in trials)),
    )
    return trials, info


# ----------------------------------------------------------------------------- statistics


def _rates(trials: list[_Trial]) -> np.ndarray:
    counts = sum(t.counts.sum(axis=0) for t in trials)
    return counts / (sum(t.counts.shape[0] for t in trials) * BIN_S)


def _fano_aligned(trials: list[_Trial], active: np.ndarray) -> float:
    """Across-trial Fano factor of aligned 100 ms counts, per condition and window."""
    groups: dict[int, list[np.ndarray]] = {}
    for t in trials:
        if t.aligned is not None and t.condition >= 0:
            groups.setdefault(t.condition, []).append(t.aligned)
    ratios = []
    for stack in groups.values():
        if len(stack) < 5:
            continue
        a = np.stack(stack)  # (trials, windows, units)
        mean, var = a.mean(axis=0), a.var(axis=0, ddof=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios.append(np.where(mean > 0, var / mean, np.nan))
    if not ratios:
        return float("nan")
    per_unit = np.nanmean(np.concatenate(ratios, axis=0), axis=0)
    return float(np.nanmean(per_unit[active]))


def _fano_pooled(trials: list[_Trial], active: np.ndarray) -> float:
    counts = np.concatenate([t.counts for t in trials])
    mean, var = counts.mean(axis=0), counts.var(axis=0)
    return float(np.mean(var[active] / mean[active]))


def _lagged(counts: np.ndarray) -> np.ndarray:
    """Rows t >= N_LAGS-1 of [counts(t), counts(t-1), ..., counts(t-N_LAGS+1)]."""
    n = counts.shape[0]
    return np.concatenate([counts[N_LAGS - 1 - j : n - j] for j in range(N_LAGS)], axis=1)


def linear_r2(trials: list[_Trial], seed: int = 0) -> float:
    """Ridge on 5 lagged 20 ms bins, split 80/20 by trial, R^2 uniform over x and y."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    usable = [t for t in trials if t.vel is not None and t.counts.shape[0] > N_LAGS]
    if len(usable) < 10:
        return float("nan")
    order = np.random.default_rng(seed).permutation(len(usable))
    n_test = max(1, int(round(0.2 * len(usable))))
    test, train = set(order[:n_test].tolist()), order[n_test:]

    def stack(idx):
        x = np.concatenate([_lagged(usable[i].counts) for i in idx])
        y = np.concatenate([usable[i].vel[N_LAGS - 1 :] for i in idx])
        return x, y

    x_tr, y_tr = stack(train)
    x_te, y_te = stack(sorted(test))
    model = Ridge(alpha=1.0).fit(x_tr, y_tr)
    return float(r2_score(y_te, model.predict(x_te)))


def _row(trials: list[_Trial], info: dict) -> dict:
    rates = _rates(trials)
    active = rates > MIN_RATE_HZ
    return {
        **info,
        "rate_mean_hz": float(rates.mean()),
        "rate_median_hz": float(np.median(rates)),
        "rate_p90_hz": float(np.percentile(rates, 90)),
        "fano_100ms": _fano_aligned(trials, active),
        "fano_20ms": _fano_pooled(trials, active),
        "linear_r2": linear_r2(trials),
    }


def compare_with_real(
    realdata_dir: Path, preset: str = "c_co_2016", cache_dir: Path | None = None
) -> pd.DataFrame:
    """One row per simulated session of ``preset`` (default scale, seed 0, generated or taken
    from the cache) and per real dataset found under ``realdata_dir`` (missing ones are left out)."""
    from bench.data.simulators.nhp import SimulatorParams, SimulatorSource

    source = SimulatorSource(SimulatorParams(preset=preset), cache_dir=cache_dir)
    rows = [_row(*_simulated_trials(p)) for p in source.materialize(progress=False)]
    realdata_dir = Path(realdata_dir)
    for loader, sub in ((_imperial_trials, "imperial_bmi"), (_ee239as_trials, "ee239as_center_out")):
        loaded = loader(realdata_dir / sub)
        if loaded is not None:
            rows.append(_row(*loaded))
    return pd.DataFrame(rows)


def format_report(df: pd.DataFrame) -> str:
    """The comparison as a markdown table (numbers rounded for reading)."""
    shown = df.copy()
    shown["duration_s"] = shown["duration_s"].round(0)
    for col in ("rate_mean_hz", "rate_median_hz", "rate_p90_hz"):
        shown[col] = shown[col].round(1)
    for col in ("fano_100ms", "fano_20ms", "linear_r2"):
        shown[col] = shown[col].round(2)
    return shown.to_markdown(index=False)
