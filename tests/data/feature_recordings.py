"""Tiny recordings with feature streams (threshold crossings, spike-band power) built from the
hand-built spiking recordings of ``tests.conftest``, for the data, model and suite tests."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bench.data.recording import FeatureStream, Recording
from bench.data.views import bin_spikes
from tests.conftest import make_recording


def threshold_crossings(rec: Recording, bin_s: float = 0.01) -> FeatureStream:
    """The recording's spikes binned per unit as a counts stream (one channel per unit)."""
    origin = float(rec.domain.start[0])
    n_bins = int(round(rec.duration / bin_s))
    counts = bin_spikes(rec.spike_times, rec.spike_units, rec.n_units, origin, n_bins, bin_s)
    return FeatureStream("threshold_crossings", bin_s, origin, counts, [f"ch{i}" for i in range(rec.n_units)], "counts")


def spike_band_power(rec: Recording, n_channels: int = 256, bin_s: float = 0.02, seed: int = 0) -> FeatureStream:
    """A continuous stream: each channel a noisy log-power of a random mix of the units' rates."""
    rng = np.random.default_rng(seed)
    origin = float(rec.domain.start[0])
    n_bins = int(round(rec.duration / bin_s))
    counts = bin_spikes(rec.spike_times, rec.spike_units, rec.n_units, origin, n_bins, bin_s)
    mix = rng.exponential(1.0, (rec.n_units, n_channels)) * (rng.random((rec.n_units, n_channels)) < 0.3)
    power = np.log1p(counts @ mix) + 0.1 * rng.standard_normal((n_bins, n_channels))
    return FeatureStream("spike_band_power", bin_s, origin, power, [f"e{i}" for i in range(n_channels)], "continuous")


def features_only(rec: Recording, *streams: FeatureStream) -> Recording:
    """The recording without its spikes, holding only the given streams."""
    return replace(rec, spike_times=np.zeros(0), spike_units=np.zeros(0, np.int64), unit_ids=np.zeros(0, str),
                   features={s.name: s for s in streams}, events_from=None, _views={})


def crossings_recording(n_trials: int = 30, n_channels: int = 192, seed: int = 0, recording_id: str = "tc_0") -> Recording:
    """Features only: a 192-channel threshold-crossing stream at 10 ms (spike events derived)."""
    rec = make_recording(n_trials=n_trials, n_units=n_channels, seed=seed, recording_id=recording_id)
    return features_only(rec, threshold_crossings(rec))


def power_recording(n_trials: int = 30, n_channels: int = 256, seed: int = 0, recording_id: str = "sbp_0") -> Recording:
    """Features only: a 256-channel spike-band-power stream at 20 ms (no spike events)."""
    rec = make_recording(n_trials=n_trials, n_units=16, seed=seed, recording_id=recording_id)
    return features_only(rec, spike_band_power(rec, n_channels, seed=seed))
