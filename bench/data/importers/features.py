"""Feature streams (binned threshold crossings, spike-band power, ...) from arrays -> ``FeatureStream``.

Streams are regular series over the recording's timeline, which starts at 0 s: bin ``i`` of a
stream at ``bin_size_s`` covers [i * bin, (i + 1) * bin). The timeline is the rows of the
continuous layout (counts, behaviour, trial ids) at the spec's ``bin_size_s``; every stream must
span the same time, at its own bin width.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.data.importers.checks import check_counts, check_finite
from bench.data.importers.messages import ArrayNames, fail, shape_of
from bench.data.importers.spec import ImportSpec
from bench.data.recording import FeatureStream

# Per-bin arrays whose rows define the timeline of a recording without counts, in order of preference.
ROW_KEYS = ("behaviour", "trial_id", "trial_split")


def _values(arrays: dict[str, Any], name: str, spec: ImportSpec, names: ArrayNames) -> np.ndarray:
    raw = arrays.get("features", {}).get(name)
    key = f"features.{name}"
    if raw is None:
        raise fail(f"Feature stream '{name}' was declared but {names.where} gave no array for it ({key}.key).")
    v = np.asarray(raw)
    if v.ndim == 1:
        v = v[:, None]  # one channel
    if v.ndim != 2:
        raise fail(f"{names(key)} has shape {shape_of(raw)}; expected 2-D (bins, channels).")
    if spec.features[name].transpose:
        v = v.T
    if spec.features[name].kind == "counts":
        return check_counts(v, key, names).astype(np.float32)
    return check_finite(v, key, names).astype(np.float32)


def _bin_of(name: str, spec: ImportSpec) -> float:
    b = spec.features[name].bin_size_s or spec.bin_size_s
    if b is None:
        raise fail(
            f"Feature stream '{name}' needs a bin width: set features.{name}.bin_size_s, or the spec's bin_size_s."
        )
    return float(b)


def timeline_bins(arrays: dict[str, Any], spec: ImportSpec, names: ArrayNames) -> int:
    """Bins of the timeline of a recording without counts: rows of a per-bin array, else the streams' span."""
    for key in ROW_KEYS:
        if arrays.get(key) is not None:
            return int(np.shape(arrays[key])[0])
    name = next(iter(spec.features))
    span = _values(arrays, name, spec, names).shape[0] * _bin_of(name, spec)
    n = span / spec.bin_size_s
    if abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise fail(
            f"Feature stream '{name}' spans {span:g} s, not a whole number of bins of bin_size_s "
            f"{spec.bin_size_s:g} s (the recording's timeline); make bin_size_s divide the stream's span."
        )
    return int(round(n))


def feature_streams(arrays: dict[str, Any], spec: ImportSpec, names: ArrayNames, n_bins: int) -> dict[str, FeatureStream]:
    """Every declared stream, checked to span the timeline of ``n_bins`` bins of ``spec.bin_size_s``."""
    span = n_bins * float(spec.bin_size_s)
    streams = {}
    for name in spec.features:
        values, b = _values(arrays, name, spec, names), _bin_of(name, spec)
        if abs(values.shape[0] * b - span) > 1e-6 * max(1.0, span):
            raise fail(
                f"{names(f'features.{name}')} holds {values.shape[0]} bins of {b * 1000:g} ms = "
                f"{values.shape[0] * b:g} s, but the recording's timeline is {n_bins} bins of "
                f"{spec.bin_size_s * 1000:g} ms = {span:g} s; a stream must cover the same time (set "
                f"features.{name}.bin_size_s when its bins differ from bin_size_s)."
            )
        ids = arrays.get("feature_channels", {}).get(name)
        if ids is None:
            ids = [f"ch{i:03d}" for i in range(values.shape[1])]
        ids = np.asarray(ids).reshape(-1)
        if ids.size != values.shape[1]:
            raise fail(
                f"Feature stream '{name}' has {ids.size} channel ids but {values.shape[1]} channels in "
                f"{names(f'features.{name}')}; expected one id per channel."
            )
        ids = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in ids])
        streams[name] = FeatureStream(name, b, 0.0, values, ids, spec.features[name].kind)
    return streams
