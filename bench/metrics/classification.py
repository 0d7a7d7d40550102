"""Classification metrics for discrete decoding tasks (e.g. reach direction).

Predictions may be given as labels (same shape as ``y_true``) or as scores/logits with one extra
trailing class axis, in which case the arg-max class is the prediction. Balanced accuracy is
reported alongside accuracy because class counts are often unequal across sessions, and plain
accuracy then rewards a decoder that always predicts the majority class.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "balanced_accuracy", "to_labels"]


def to_labels(y_true, logits_or_labels) -> tuple[np.ndarray, np.ndarray]:
    """Return (true labels, predicted labels) as flat int arrays, taking arg-max of logits."""
    t = np.asarray(y_true)
    p = np.asarray(logits_or_labels)
    if p.ndim == t.ndim + 1:
        if p.shape[:-1] != t.shape:
            raise ValueError(
                f"logits must have shape y_true.shape + (n_classes,) = {t.shape} + (C,), got {p.shape}"
            )
        if p.shape[-1] == 0:
            raise ValueError("logits have an empty class axis")
        p = np.argmax(p, axis=-1)
    elif p.shape != t.shape:
        raise ValueError(
            f"predictions must be labels shaped like y_true {t.shape} or logits shaped "
            f"{t.shape} + (n_classes,), got {p.shape}"
        )
    t, p = t.reshape(-1), p.reshape(-1)
    if t.size == 0:
        raise ValueError("no samples to score")
    for name, a in (("y_true", t), ("predictions", p)):
        if not np.issubdtype(a.dtype, np.integer):
            if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
                raise ValueError(f"{name} must be integer class labels")
    return t.astype(np.int64), p.astype(np.int64)


def accuracy(y_true, logits_or_labels) -> float:
    """Fraction of samples whose predicted class equals the true class."""
    t, p = to_labels(y_true, logits_or_labels)
    return float(np.mean(t == p))


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of samples with true class i predicted as class j, shape (n_classes, n_classes).

    ``y_pred`` may be labels or logits. Labels outside ``[0, n_classes)`` raise ``ValueError``
    rather than being silently dropped.
    """
    if int(n_classes) != n_classes or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes}")
    n_classes = int(n_classes)
    t, p = to_labels(y_true, y_pred)
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.min() < 0 or a.max() >= n_classes:
            raise ValueError(
                f"{name} has labels outside [0, {n_classes}): min {a.min()}, max {a.max()}"
            )
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def balanced_accuracy(y_true, logits_or_labels) -> float:
    """Mean over classes present in ``y_true`` of the per-class recall (scikit-learn convention).

    Classes that never occur in ``y_true`` have no recall and are left out, so chance level is
    1 / (number of classes present).
    """
    t, p = to_labels(y_true, logits_or_labels)
    classes = np.unique(t)
    recalls = [np.mean(p[t == c] == c) for c in classes]
    return float(np.mean(recalls))
