"""Checks every ``Recording`` passes at construction: the arrays are what the views and tasks assume.

A recording is built from a file (``storage``), an importer or a simulator; whatever the source,
a spike time of inf, a float unit index, a trial that ends before it starts or a split that runs
backwards would otherwise be accepted silently and turn into a traceback (or worse, a score)
later. Each check raises one DataError naming the recording, the field and the offending value.

Spikes that lie outside the recording's domain are never binned or tokenised, so a file whose
spikes all lie outside it is refused, and one with very few spikes inside it is scored only with
a loud ``SparseSpikesWarning`` (documented in docs/data_checks.md).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from bench.errors import DataError

if TYPE_CHECKING:
    from bench.data.intervals import Intervals
    from bench.data.recording import Recording

# Below this many recorded spikes per unit inside the domain, a score says nothing about a decoder.
MIN_SPIKES_PER_UNIT = 1.0
# Interval ends may sit this far (s) outside the domain: float round-off of files written elsewhere.
_EDGE_TOL = 1e-6


class SparseSpikesWarning(UserWarning):
    """A recording holds so few spikes in its domain (or so many outside it) that scores mean little."""


def real_array(values, where: str, integer: bool = False) -> np.ndarray:
    """``values`` as an array of real numbers (integers only when ``integer``); DataError otherwise."""
    a = np.asarray(values)
    kinds = "iu" if integer else "iuf"
    if a.dtype.kind == "b" and integer:
        kinds += "b"
    if a.dtype.kind not in kinds:
        wanted = "whole numbers (an integer dtype)" if integer else "real numbers"
        raise DataError(f"{where} has dtype {a.dtype}; expected {wanted}.")
    return a


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_finite(a: np.ndarray, where: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        i = _first_bad(bad.reshape(bad.shape[0], -1).any(axis=1) if bad.ndim > 1 else bad)
        raise DataError(f"{where} holds {int(bad.sum())} non-finite values (first at index {i}); expected finite numbers.")


def check_intervals(iv: "Intervals", where: str, domain: "Intervals | None" = None) -> None:
    """Finite, not reversed, and (given a domain) inside its overall span."""
    check_finite(iv.start, f"{where} (start)")
    check_finite(iv.end, f"{where} (end)")
    back = iv.end < iv.start
    if back.any():
        i = _first_bad(back)
        raise DataError(
            f"{where}: interval {i} ends at {iv.end[i]:g} s before it starts at {iv.start[i]:g} s; "
            "expected start <= end."
        )
    if domain is not None and len(domain) and len(iv):
        lo, hi = float(domain.start[0]), float(domain.end[-1])
        out = (iv.start < lo - _EDGE_TOL) | (iv.end > hi + _EDGE_TOL)
        if out.any():
            i = _first_bad(out)
            raise DataError(
                f"{where}: interval {i} [{iv.start[i]:g}, {iv.end[i]:g}) s lies outside the recording's "
                f"domain [{lo:g}, {hi:g}) s; expected every split and trial inside the domain."
            )


def check_domain(domain: "Intervals", recording_id: str) -> None:
    """A non-empty, finite domain of positive duration: checked first, everything else is placed in it."""
    name = f"Recording {recording_id}"
    if len(domain) == 0:
        raise DataError(f"{name}: the domain is empty; expected at least one [start, end) interval of recorded time.")
    check_intervals(domain, f"{name}: domain")
    if domain.duration <= 0:
        raise DataError(f"{name}: the domain lasts {domain.duration:g} s; expected a positive duration.")


def check_recording(rec: "Recording") -> None:
    """The construction-time checks of a recording after its domain's (see the module docstring)."""
    name = f"Recording {rec.recording_id}"
    _check_spikes(rec, name)
    if rec.trials is not None:
        _check_trials(rec, name)
    for split, iv in rec.splits.items():
        check_intervals(iv, f"{name}: split '{split}' ({split}_domain)", rec.domain)
    if rec.behaviour is not None:
        _check_behaviour(rec, name)


def _check_spikes(rec: "Recording", name: str) -> None:
    t = real_array(rec.spike_times, f"{name}: spikes.timestamps")
    u = real_array(rec.spike_units, f"{name}: spikes.unit_index", integer=True)
    if t.ndim != 1 or u.shape != t.shape:
        raise DataError(
            f"{name}: spikes.timestamps has shape {t.shape} and spikes.unit_index {u.shape}; expected two "
            "1-D arrays of the same length (one unit per spike)."
        )
    check_finite(t, f"{name}: spikes.timestamps")
    if t.size > 1 and np.any(np.diff(t) < 0):
        i = _first_bad(np.diff(t) < 0)
        raise DataError(f"{name}: spikes.timestamps are not sorted (index {i + 1}: {t[i + 1]:g} s after {t[i]:g} s).")
    n_units = int(np.asarray(rec.unit_ids).size)
    if u.size and (u.min() < 0 or u.max() >= n_units):
        raise DataError(
            f"{name}: spikes.unit_index ranges over [{int(u.min())}, {int(u.max())}] but units.id has "
            f"{n_units} entries; expected indices 0 to {n_units - 1}."
        )
    if rec.events_from is not None or n_units == 0:
        return  # derived events: a sparse counts stream is data, not a fault
    inside = int(rec.domain.contains(t).sum())
    lo, hi = float(rec.domain.start[0]), float(rec.domain.end[-1])
    if inside == 0:
        raise DataError(
            f"{name}: none of its {t.size} spikes lies inside its domain [{lo:g}, {hi:g}) s (spikes span "
            f"[{t.min():g}, {t.max():g}] s); models would see no spikes at all. Check the time units of "
            "spikes.timestamps and domain."
        )
    if inside < MIN_SPIKES_PER_UNIT * n_units or inside < t.size / 2:
        warnings.warn(
            f"{name}: only {inside} of its {t.size} spikes lie inside its domain [{lo:g}, {hi:g}) s "
            f"({n_units} units); scores of this recording say little about a decoder.",
            SparseSpikesWarning,
            stacklevel=3,
        )


def _check_trials(rec: "Recording", name: str) -> None:
    tr = rec.trials
    start = real_array(tr.start, f"{name}: trials.start")
    end = real_array(tr.end, f"{name}: trials.end")
    if start.ndim != 1 or end.shape != start.shape or np.shape(tr.target_id) != start.shape or np.shape(tr.is_valid) != start.shape:
        raise DataError(
            f"{name}: trials.start, end, target_id and is_valid have shapes {start.shape}, {end.shape}, "
            f"{np.shape(tr.target_id)}, {np.shape(tr.is_valid)}; expected one entry per trial in each."
        )
    check_finite(start, f"{name}: trials.start")
    check_finite(end, f"{name}: trials.end")
    back = end < start
    if back.any():
        i = _first_bad(back)
        raise DataError(f"{name}: trial {i} ends at {end[i]:g} s before it starts at {start[i]:g} s (trials.end < trials.start).")


def _check_behaviour(rec: "Recording", name: str) -> None:
    b = rec.behaviour
    where = f"{name}: behaviour '{b.name}'"
    t = real_array(b.timestamps, f"{where}.timestamps")
    vel = real_array(b.vel, f"{where}.vel")
    if t.ndim != 1 or vel.ndim != 2 or vel.shape[0] != t.size or vel.shape[1] == 0:
        raise DataError(f"{where}: timestamps {t.shape} and vel {vel.shape}; expected (n,) and (n, dims) with dims >= 1.")
    check_finite(t, f"{where}.timestamps")
    if t.size > 1 and np.any(np.diff(t) < 0):
        i = _first_bad(np.diff(t) < 0)
        raise DataError(f"{where}.timestamps are not sorted (index {i + 1}: {t[i + 1]:g} s after {t[i]:g} s).")
    if b.pos is not None:
        real_array(b.pos, f"{where}.pos")
