"""Coefficient of determination (R^2) under the conventions used in the field.

The field reports R^2 in three incompatible ways (see FACTS.md, "Metric conventions"):

* torch_brain / POSSM: per session, uniform average over output dimensions, then mean and SD
  over sessions. This is the harness's headline number (``r2`` from :func:`r2_scores`, then
  :func:`aggregate_sessions`).
* FALCON: per session, variance-weighted over dimensions, then mean over sessions
  (``r2_variance_weighted`` from :func:`r2_scores`).
* NLB: pooled over all trials before computing R^2, uniform over dimensions (:func:`pooled_r2`).

We compute all three so results can be compared with any paper, but only one is the headline.

Constant targets: a dimension whose target takes a single value (over the samples with positive
weight) has no variance, so R^2 is undefined for it. Such a dimension is reported as ``None`` in
``r2_per_dim``, listed in ``constant_dims`` and left out of both averages (this matches
scikit-learn's variance-weighted average, which gives it zero weight; for the uniform average
scikit-learn would instead score it 1.0 or 0.0, which would inflate or deflate the mean with a
number that says nothing about decoding). If every dimension is constant a ``ValueError`` is
raised, because there is nothing to score.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["r2_scores", "aggregate_sessions", "pooled_r2"]


def _as_2d(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (n_samples, n_dims) or (n_samples,), got {a.shape}")
    return a


def _validate(y_true, y_pred, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_true = _as_2d("y_true", y_true)
    y_pred = _as_2d("y_pred", y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}"
        )
    n, d = y_true.shape
    if n == 0 or d == 0:
        raise ValueError(f"need at least one sample and one dimension, got shape {y_true.shape}")
    if not np.all(np.isfinite(y_true)):
        raise ValueError("y_true contains NaN or infinite values")
    if not np.all(np.isfinite(y_pred)):
        raise ValueError("y_pred contains NaN or infinite values")
    if weights is None:
        w = np.ones(n, dtype=np.float64)
    else:
        # A boolean mask is a 0/1 weight vector.
        w = np.asarray(weights).astype(np.float64).reshape(-1)
        if w.shape != (n,):
            raise ValueError(
                f"weights must have one entry per sample ({n}), got shape {np.shape(weights)}"
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and non-negative")
        if w.sum() <= 0:
            raise ValueError("weights sum to zero: no sample is selected for scoring")
    return y_true, y_pred, w


def r2_scores(y_true, y_pred, weights=None) -> dict:
    """R^2 of one session under the uniform (torch_brain/POSSM) and variance-weighted (FALCON) averages.

    ``y_true`` and ``y_pred`` are (n_samples, n_dims) (a 1-D array is one dimension).
    ``weights`` is an optional per-sample weight or boolean mask, e.g. to score only the
    evaluation intervals or to apply segment weights; weighted means and sums of squares are
    used exactly as in ``sklearn.metrics.r2_score(sample_weight=...)``.

    Returns ``{"r2", "r2_per_dim", "r2_variance_weighted", "constant_dims"}``; see the module
    docstring for how constant dimensions are treated.
    """
    y_true, y_pred, w = _validate(y_true, y_pred, weights)
    wsum = w.sum()
    mean = (w[:, None] * y_true).sum(axis=0) / wsum
    ss_res = (w[:, None] * (y_true - y_pred) ** 2).sum(axis=0)
    ss_tot = (w[:, None] * (y_true - mean) ** 2).sum(axis=0)

    # Decide "constant" from the values themselves, not from ss_tot, which can be a tiny
    # non-zero number through rounding when the target is constant.
    selected = y_true[w > 0]
    constant = np.ptp(selected, axis=0) == 0
    if np.all(constant):
        raise ValueError(
            "every target dimension is constant over the scored samples, so R^2 is undefined"
        )
    valid = ~constant
    per_dim = np.full(y_true.shape[1], np.nan)
    per_dim[valid] = 1.0 - ss_res[valid] / ss_tot[valid]
    return {
        "r2": float(np.mean(per_dim[valid])),
        "r2_per_dim": [None if c else float(v) for v, c in zip(per_dim, constant)],
        "r2_variance_weighted": float(1.0 - ss_res[valid].sum() / ss_tot[valid].sum()),
        "constant_dims": [int(i) for i in np.flatnonzero(constant)],
    }


def pooled_r2(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """NLB-style R^2: concatenate all trials (y_true, y_pred), then R^2 uniform over dimensions.

    Pooling uses the grand mean over all trials as the baseline, so trial-to-trial offsets count
    as explained variance (unlike an average of per-trial R^2).
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pooled_r2 needs at least one (y_true, y_pred) pair")
    trues, preds = [], []
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ValueError(f"item {i} must be a (y_true, y_pred) pair")
        t, p = _as_2d(f"y_true of item {i}", pair[0]), _as_2d(f"y_pred of item {i}", pair[1])
        if t.shape != p.shape:
            raise ValueError(
                f"item {i}: y_true and y_pred must have the same shape, got {t.shape} and {p.shape}"
            )
        trues.append(t)
        preds.append(p)
    dims = {t.shape[1] for t in trues}
    if len(dims) != 1:
        raise ValueError(f"all items must have the same number of dimensions, got {sorted(dims)}")
    return r2_scores(np.concatenate(trues), np.concatenate(preds))["r2"]


def aggregate_sessions(values: Sequence[float]) -> dict:
    """Mean and spread of a per-session metric, as papers report "mean +- SD over sessions".

    ``sd`` is the sample standard deviation (ddof=1) when there are two or more sessions, the
    usual choice when sessions are a sample of possible recordings; it is 0.0 for one session.
    """
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    if v.size == 0:
        raise ValueError("aggregate_sessions needs at least one value")
    if not np.all(np.isfinite(v)):
        raise ValueError("aggregate_sessions got NaN or infinite values")
    sd = float(np.std(v, ddof=1)) if v.size > 1 else 0.0
    return {"mean": float(np.mean(v)), "sd": sd, "n": int(v.size)}
