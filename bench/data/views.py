"""The views models consume, computed once per recording and cached on it.

All views share one time grid anchored at the start of the recording's domain, so a segment whose
boundaries lie on the chunk grid can be sliced out of the whole-recording arrays without
re-binning. Bin widths must divide the streaming chunk so that bins never straddle chunks.
"""

from __future__ import annotations

import math

import numpy as np

from bench.data.recording import Recording

_EPS = 1e-9


def grid_index(t: float | np.ndarray, origin: float, width: float) -> np.ndarray | int:
    """Index of the grid cell [origin + i*width, origin + (i+1)*width) holding t."""
    return np.floor((np.asarray(t) - origin) / width + _EPS).astype(np.int64)


def snap_inward(start: float, end: float, origin: float, width: float) -> tuple[float, float]:
    """Shrink [start, end) to the chunk grid so that no time outside it is used."""
    i0 = math.ceil((start - origin) / width - _EPS)
    i1 = math.floor((end - origin) / width + _EPS)
    return origin + i0 * width, origin + i1 * width


def bin_spikes(
    spike_times: np.ndarray, spike_units: np.ndarray, n_units: int, start: float, n_bins: int, bin_s: float
) -> np.ndarray:
    """Spike counts (n_bins, n_units) as float32 on bins [start + i*bin_s, ...)."""
    idx = grid_index(spike_times, start, bin_s)
    keep = (idx >= 0) & (idx < n_bins)
    flat = idx[keep] * n_units + spike_units[keep]
    counts = np.bincount(flat, minlength=n_bins * n_units)
    return counts.reshape(n_bins, n_units).astype(np.float32)


def binned_counts(rec: Recording, bin_s: float) -> np.ndarray:
    """Whole-recording counts (n_bins, n_units) on the grid anchored at the domain start; cached."""
    key = ("binned", round(bin_s, 9))
    if key not in rec._views:
        origin = float(rec.domain.start[0])
        n_bins = int(math.ceil((float(rec.domain.end[-1]) - origin) / bin_s - _EPS))
        rec._views[key] = bin_spikes(rec.spike_times, rec.spike_units, rec.n_units, origin, n_bins, bin_s)
    return rec._views[key]


def counts_between(rec: Recording, start: float, end: float, bin_s: float) -> np.ndarray:
    """Counts for the bins of [start, end); start/end must lie on the bin grid."""
    origin = float(rec.domain.start[0])
    all_counts = binned_counts(rec, bin_s)
    i0 = int(round((start - origin) / bin_s))
    i1 = int(round((end - origin) / bin_s))
    out = all_counts[max(i0, 0) : max(i1, 0)]
    if i0 < 0 or i1 > all_counts.shape[0]:  # segment runs past the recording: zero-pad
        pad_before = max(0, -i0)
        pad_after = max(0, i1 - max(all_counts.shape[0], i0))
        out = np.pad(out, ((pad_before, pad_after), (0, 0)))
    return out


def lagged(counts: np.ndarray, n_lags: int, history: np.ndarray | None = None) -> np.ndarray:
    """Stack each bin with its n_lags predecessors: (n_bins, n_units * (n_lags + 1)).

    Column block j holds the counts j bins back. Bins before the first are taken from
    ``history`` (the previous n_lags bins, oldest first) or zero.
    """
    n_bins, n_units = counts.shape
    if history is None:
        history = np.zeros((n_lags, n_units), counts.dtype)
    padded = np.concatenate([history[-n_lags:] if n_lags else history[:0], counts], axis=0)
    cols = [padded[n_lags - j : n_lags - j + n_bins] for j in range(n_lags + 1)]
    return np.concatenate(cols, axis=1)


def spike_tokens(rec: Recording, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Spike-event tokens of [start, end): (times relative to start, unit indices)."""
    t, u = rec.spikes_between(start, end)
    return t - start, u


def behaviour_at(rec: Recording, times: np.ndarray) -> np.ndarray:
    """Velocity (n, dims) at the given times, linearly interpolated from the behaviour samples."""
    b = rec.behaviour
    if b is None:
        raise ValueError(f"recording {rec.recording_id} has no behaviour")
    return np.stack([np.interp(times, b.timestamps, b.vel[:, d]) for d in range(b.vel.shape[1])], axis=1)
