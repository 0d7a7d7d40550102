"""Spike trains in continuous time from firing rates given on a regular grid.

The rate between two grid points is taken as the straight line between them, and spikes are
drawn exactly from that inhomogeneous Poisson process by time rescaling: uniform points in
integrated-intensity space are mapped back through the (piecewise-quadratic) integrated
intensity. Spike times therefore fall anywhere, not on a bin grid, which matters for models that
read spike times (POYO / POSSM tokens). A 1.5 ms absolute refractory period then removes the
physiologically impossible short intervals.
"""

from __future__ import annotations

import numpy as np

REFRACTORY_S = 0.0015


def _integrated_intensity(rates: np.ndarray, dt: float) -> np.ndarray:
    """Cumulative integral of the piecewise-linear rate at each grid point, (units, n_samples)."""
    cum = np.zeros_like(rates)
    np.cumsum(0.5 * dt * (rates[:, 1:] + rates[:, :-1]), axis=1, out=cum[:, 1:])
    return cum


def sample_spikes(
    rates: np.ndarray, t0: float, dt: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (s) and unit indices, sorted by unit then time, for rates (units, n_samples)
    in Hz sampled at t0 + i * dt."""
    n_units, n_samples = rates.shape
    if n_samples < 2:
        return np.zeros(0), np.zeros(0, np.int64)
    cum = _integrated_intensity(rates, dt)
    totals = cum[:, -1]
    counts = rng.poisson(totals)
    # Conditioned on its count, a Poisson process is uniform in integrated-intensity space.
    # Sorting unit + uniform orders the points by unit, then by time (the map is monotone).
    key = np.sort(np.repeat(np.arange(n_units), counts) + rng.random(int(counts.sum())))
    units = key.astype(np.int64)
    level = (key - units) * totals[units]
    seg = np.empty(units.size, np.int64)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for u in range(n_units):  # cum is monotone along each unit's row
        sel = slice(int(bounds[u]), int(bounds[u + 1]))
        seg[sel] = np.searchsorted(cum[u], level[sel], side="right") - 1
    seg = np.clip(seg, 0, n_samples - 2)
    flat = units * n_samples + seg
    r0 = rates.ravel()[flat]
    slope = (rates.ravel()[flat + 1] - r0) / dt
    excess = np.maximum(level - cum.ravel()[flat], 0.0)
    # Solve r0*tau + slope*tau^2/2 = excess in the cancellation-free form.
    root = np.sqrt(np.maximum(r0 * r0 + 2.0 * slope * excess, 0.0))
    tau = 2.0 * excess / np.maximum(r0 + root, 1e-12)
    times = t0 + seg * dt + np.clip(tau, 0.0, dt * (1 - 1e-9))
    return _refractory(times, units)


def _refractory(times: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop a spike that follows another spike of the same unit within REFRACTORY_S."""
    if times.size < 2:
        return times, units
    too_close = (np.diff(times) < REFRACTORY_S) & (units[1:] == units[:-1])
    keep = np.concatenate([[True], ~too_close])
    return times[keep], units[keep]
