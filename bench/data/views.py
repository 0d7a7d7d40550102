"""The views models consume, computed once per recording and cached on it.

All views share one time grid anchored at the start of the recording's domain, so a segment whose
boundaries lie on the chunk grid can be sliced out of the whole-recording arrays without
re-binning. Bin widths must divide the streaming chunk so that bins never straddle chunks.
Feature streams lie on that grid at their own bin width; a model reads them at a bin width that is
a whole multiple of the stream's, re-binned by summing (counts) or averaging (continuous).
"""

from __future__ import annotations

import math

import numpy as np

from bench.data.budget import check_allocation
from bench.data.recording import FeatureStream, Recording
from bench.errors import DataError

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
        rec.check_bin(bin_s, "a model's bin width (bin_ms)")
        origin = float(rec.domain.start[0])
        span = float(rec.domain.end[-1]) - origin
        # float32 counts plus bincount's int64 per cell
        check_allocation(span / bin_s * max(rec.n_units, 1), 12, f"Binning recording {rec.path or rec.recording_id} "
                         f"({span:g} s of domain, {rec.n_units} units) at {bin_s * 1000:g} ms",
                         "(a domain or spike time far from the others, or a bin width far too small)")
        n_bins = int(math.ceil(span / bin_s - _EPS))
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


def feature_stream(rec: Recording, name: str) -> FeatureStream:
    """The recording's feature stream ``name``; DataError listing the streams it has otherwise."""
    if name not in rec.features:
        have = ", ".join(sorted(rec.features)) or "none"
        raise DataError(
            f"Recording {rec.path or rec.recording_id} has no feature stream '{name}' (its streams: {have})."
        )
    return rec.features[name]


def bins_per_bin(stream: FeatureStream, bin_s: float) -> int:
    """How many of the stream's bins make one bin of ``bin_s``; DataError unless a whole number."""
    ratio = bin_s / stream.bin_s
    if round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-6:
        raise DataError(
            f"Feature stream '{stream.name}' has {stream.bin_s * 1000:g} ms bins, which cannot be re-binned "
            f"to {bin_s * 1000:g} ms: the bin width a model reads a stream at must be a whole multiple of "
            f"the stream's (e.g. {stream.bin_s * 1000:g} or {2 * stream.bin_s * 1000:g} ms)."
        )
    return int(round(ratio))


def rebin(values: np.ndarray, factor: int, kind: str) -> np.ndarray:
    """Merge each run of ``factor`` bins: summed for counts, averaged for continuous values."""
    if factor == 1:
        return values
    grouped = values.reshape(-1, factor, values.shape[1])
    return grouped.sum(axis=1) if kind == "counts" else grouped.mean(axis=1)


def feature_between(rec: Recording, name: str, start: float, end: float, bin_s: float) -> np.ndarray:
    """Stream ``name`` on bins of ``bin_s`` over [start, end): (n_bins, n_channels) float32.

    ``start`` must lie on the stream's grid and ``bin_s`` be a whole multiple of its bin (both hold
    for segments and chunks on the chunk grid when the stream's bin divides the model's bin).
    Bins outside the stream's span read 0. Offline and streaming paths both go through here, so
    they see the same numbers.
    """
    stream = feature_stream(rec, name)
    factor = bins_per_bin(stream, bin_s)
    offset = (start - stream.t0) / stream.bin_s
    if abs(offset - round(offset)) > 1e-6:
        raise DataError(
            f"Feature stream '{name}' of recording {rec.recording_id}: {start:g} s is not on its "
            f"{stream.bin_s * 1000:g} ms grid; segments and chunks must start on whole stream bins."
        )
    check_allocation((end - start) / stream.bin_s * stream.n_channels, 4,
                     f"Reading feature stream '{name}' of recording {rec.recording_id} over [{start:g}, {end:g}) s")
    i0, n_out = int(round(offset)), int(round((end - start) / bin_s))
    n = n_out * factor
    native = np.zeros((n, stream.n_channels), np.float32)
    lo, hi = max(i0, 0), min(i0 + n, stream.n_bins)
    if hi > lo:
        native[lo - i0 : hi - i0] = stream.values[lo:hi]
    return rebin(native, factor, stream.kind)


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
