"""Helpers shared by the importer tests: re-binning independent of bench.data.views, split lookup."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REALDATA = Path(__file__).resolve().parents[3].parent / "shared" / "realdata"
EPS = 1e-9


def rebin(times, units, n_units, start, n_bins, bin_s):
    """Counts (n_bins, n_units) of bins [start + i*bin_s, ...) - independent of bench.data.views."""
    idx = np.floor((times - start) / bin_s + EPS).astype(np.int64)
    keep = (idx >= 0) & (idx < n_bins)
    flat = idx[keep] * n_units + units[keep]
    return np.bincount(flat, minlength=n_bins * n_units).reshape(n_bins, n_units)


def trial_counts_of(rec, i, bin_s):
    s, e = rec.trials.start[i], rec.trials.end[i]
    n = int(round((e - s) / bin_s))
    return rebin(rec.spike_times, rec.spike_units, rec.n_units, s, n, bin_s)


def split_index(rec):
    """Split name of each trial (by its start)."""
    out = np.full(len(rec.trials), "", dtype=object)
    for name, iv in rec.splits.items():
        hit = iv.contains(rec.trials.start + 1e-6)
        assert not np.any(out[hit] != ""), "a trial is in two splits"
        out[hit] = name
    return out


def continuous_arrays(rng, n_trials=10, n_units=5, bins=(15, 25)):
    lengths = rng.integers(bins[0], bins[1], n_trials)
    T = int(lengths.sum())
    counts = rng.poisson(1.2, (T, n_units))
    trial_id = np.repeat(np.arange(1, n_trials + 1), lengths)
    pos = np.cumsum(rng.normal(size=(T, 3)), axis=0)
    label = (np.arange(n_trials) % 4) + 1
    return dict(counts=counts, behaviour=pos, trial_id=trial_id, label=label), lengths


# ----------------------------------------------------------------------------- continuous layout
