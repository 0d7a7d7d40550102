"""Checks of the arrays a reader returned: shapes, whole counts, finite values, labels and splits.

Each check either returns the array in the form the layouts use or raises one DataError naming
the array, the file and what was expected.
"""

from __future__ import annotations

import numpy as np

from bench.data.importers.messages import ArrayNames, fail, shape_of
from bench.data.importers.spec import ImportSpec

# Counts and labels are whole numbers, but files made by arithmetic (averages, unit conversions,
# float32 storage) hold values like 5.000000000000018; anything this close to a whole number,
# relative to its size (absolute below 1), is taken as that number.
WHOLE_TOLERANCE = 1e-6

SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "test": "test",
    "testing": "test",
}


def vector(arrays: dict, key: str, n: int | None, names: ArrayNames, expected: str) -> np.ndarray:
    """A 1-D array (MATLAB 1 x N / N x 1 vectors flattened), of length ``n`` when given."""
    a = np.asarray(arrays[key])
    if a.ndim > 1 and sum(s > 1 for s in a.shape) <= 1:
        a = a.reshape(-1)
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        raise fail(f"{names(key)} has shape {shape_of(arrays[key])}; expected {expected}.")
    return a


def numeric(a: np.ndarray, key: str, names: ArrayNames) -> np.ndarray:
    """Real numbers as float64; complex, text, dates and objects that are not plain numbers are refused
    (numpy would silently drop an imaginary part)."""
    kind = np.asarray(a).dtype.kind
    if kind in "cmMV":
        raise fail(f"{names(key)} has dtype {np.asarray(a).dtype}; expected real numbers.")
    try:
        out = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise fail(f"{names(key)} holds non-numeric values (dtype {np.asarray(a).dtype}); expected numbers.") from None
    return out


def near_whole(f: np.ndarray) -> np.ndarray:
    """Which finite values lie within WHOLE_TOLERANCE of a whole number."""
    return np.abs(f - np.round(f)) <= WHOLE_TOLERANCE * np.maximum(1.0, np.abs(f))


def check_counts(c: np.ndarray, key: str, names: ArrayNames) -> np.ndarray:
    """Whole, non-negative counts, returned in a compact integer dtype (uint8 stays uint8)."""
    a = np.asarray(c)
    if a.dtype.kind == "u":
        return a
    if a.dtype.kind == "i":
        if a.size and a.min() < 0:
            pos = tuple(int(i) for i in np.argwhere(a < 0)[0])
            raise fail(f"{names(key)} must hold whole, non-negative spike counts; found {a[pos]} at index {pos}.")
        return a
    f = numeric(a, key, names)
    whole = np.round(f)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(f) | (whole < 0) | ~near_whole(f)
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise fail(
            f"{names(key)} must hold whole, non-negative spike counts (values within {WHOLE_TOLERANCE:g} of a whole "
            f"number, relative to their size, count as whole); found {float(f[pos])!r} at index {pos}."
        )
    if whole.size and whole.max() >= 2**31:
        raise fail(f"{names(key)} holds a count of {whole.max():.0f}; that is not a spike count of one bin.")
    return whole.astype(np.int32)


def check_finite(a: np.ndarray, key: str, names: ArrayNames) -> np.ndarray:
    f = numeric(a, key, names)
    if not np.isfinite(f).all():
        pos = tuple(int(i) for i in np.argwhere(~np.isfinite(f))[0])
        raise fail(
            f"{names(key)} has a non-finite value ({f[pos]}) at index {pos}; fill or drop missing samples "
            "before importing."
        )
    return f


def labels(raw: np.ndarray, offset: int, key: str, names: ArrayNames) -> np.ndarray:
    """Integer labels minus ``offset``; NaN -> -1 (unknown); non-numeric labels -> sorted class index."""
    a = np.asarray(raw)
    if a.dtype.kind in "cmMV":
        raise fail(f"{names(key)} has dtype {a.dtype}; expected class numbers or names.")
    if a.dtype.kind in "biuf":
        f = a.astype(np.float64)
        known = np.isfinite(f)
        off_whole = ~near_whole(f[known])
        if off_whole.any():
            raise fail(
                f"{names(key)} holds non-integer labels (e.g. {float(f[known][off_whole][0])!r}); expected class "
                "numbers."
            )
        out = np.full(f.shape, -1, np.int64)
        out[known] = np.round(f[known]).astype(np.int64) - offset
        if (out[known] < 0).any():
            raise fail(
                f"{names(key)} holds label {int(np.round(f[known]).min())}, below label_offset {offset}; labels "
                "minus label_offset must be >= 0 (-1 marks an unknown label)."
            )
        return out
    text = np.array([str(x) for x in a.reshape(-1)]).reshape(a.shape)
    classes = np.unique(text)
    return np.searchsorted(classes, text).astype(np.int64)


def split_codes(raw: np.ndarray, key: str, names: ArrayNames) -> np.ndarray:
    """'train' / 'valid' / 'test' per entry (strings, or booleans / 0-1 where 1 = test)."""
    a = np.asarray(raw)
    if a.dtype.kind in "biuf":
        f = a.astype(np.float64)
        if not np.isin(f, [0, 1]).all():
            raise fail(f"{names(key)} holds numbers other than 0 (train) and 1 (test); use 0/1 or the strings train/valid/test.")
        return np.where(f == 1, "test", "train")
    out = []
    for x in a.reshape(-1):
        s = (x.decode() if isinstance(x, bytes) else str(x)).strip().lower()
        if s not in SPLIT_NAMES:
            raise fail(f"{names(key)} holds '{s}'; expected train, valid or test.")
        out.append(SPLIT_NAMES[s])
    return np.array(out)


def per_trial(values: np.ndarray, seg_of_bin: np.ndarray, n_trials: int, key: str, names: ArrayNames) -> np.ndarray:
    """Per-bin values constant within each trial -> one value per trial (or pass per-trial through)."""
    if values.shape[0] == seg_of_bin.shape[0]:
        first = np.searchsorted(seg_of_bin, np.arange(n_trials))
        per = values[first]
        if np.any(values != per[seg_of_bin]):
            bad = int(np.flatnonzero(values != per[seg_of_bin])[0])
            raise fail(f"{names(key)} changes inside a trial (at row {bad}); expected one value per trial.")
        return per
    if values.shape[0] == n_trials:
        return values
    raise fail(
        f"{names(key)} has {values.shape[0]} entries; expected one per bin ({seg_of_bin.shape[0]}) or "
        f"one per trial ({n_trials})."
    )


def unit_ids(arrays: dict, n_units: int, names: ArrayNames) -> np.ndarray:
    if "unit_ids" not in arrays:
        return np.array([f"unit_{i:03d}" for i in range(n_units)])
    ids = vector(arrays, "unit_ids", n_units, names, f"({n_units},) = one id per unit")
    ids = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in ids])
    if np.unique(ids).size != ids.size:
        raise fail(f"{names('unit_ids')} holds duplicate unit ids; expected one distinct id per unit.")
    return ids


def select_dims(beh: np.ndarray, spec: ImportSpec, key: str, names: ArrayNames, already_selected: bool) -> np.ndarray:
    """Keep the ``behaviour_columns`` dims of npz / mat behaviour (CSV readers select columns themselves)."""
    if already_selected or spec.behaviour_columns is None:
        return beh
    dims = spec.behaviour_columns
    if any(not isinstance(d, int) for d in dims):
        raise fail(f"behaviour_columns {dims} must be integer dims for {names(key)} (names only work for CSV headers).")
    if any(not 0 <= d < beh.shape[1] for d in dims):
        raise fail(f"behaviour_columns {dims} are out of range for {names(key)}, which has {beh.shape[1]} dims.")
    return beh[:, dims]
