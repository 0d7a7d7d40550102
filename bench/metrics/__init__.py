"""Metrics: R^2 (several conventions), classification accuracy, phoneme error rate.

All functions take numpy arrays (or sequences) and return plain Python floats, lists and dicts,
so results can be written to JSON directly.
"""

from bench.metrics.classification import accuracy, balanced_accuracy, confusion_matrix
from bench.metrics.regression import aggregate_sessions, pooled_r2, r2_scores
from bench.metrics.sequence import (
    greedy_ctc_decode,
    levenshtein,
    per_bootstrap_ci,
    phoneme_error_rate,
)

__all__ = [
    "accuracy",
    "aggregate_sessions",
    "balanced_accuracy",
    "confusion_matrix",
    "greedy_ctc_decode",
    "levenshtein",
    "per_bootstrap_ci",
    "phoneme_error_rate",
    "pooled_r2",
    "r2_scores",
]
