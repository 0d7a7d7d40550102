"""Sequence metrics for speech decoding: greedy CTC decoding, edit distance, phoneme error rate.

Convention (FACTS.md, "Metric conventions", as in speechBCI): decode each sentence greedily
(arg-max per frame, merge repeats, drop blanks), take the Levenshtein distance to the reference
phoneme sequence, and report PER = summed distances / summed reference lengths over the corpus
(not a mean of per-sentence rates, which would over-weight short sentences). Confidence
intervals come from resampling sentences with replacement.
"""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

__all__ = ["greedy_ctc_decode", "levenshtein", "phoneme_error_rate", "per_bootstrap_ci", "ratio_bootstrap_ci"]


def greedy_ctc_decode(logits, blank: int = 0) -> list[int]:
    """Best-path CTC decoding of one sentence: arg-max per frame, merge repeats, drop ``blank``.

    ``logits`` is (T, C): raw logits, probabilities or log-probabilities all give the same
    arg-max. A token repeated with a blank in between is kept twice (that is how CTC spells
    double letters); a token repeated in consecutive frames is emitted once.
    """
    x = np.asarray(logits)
    if x.ndim != 2:
        raise ValueError(f"logits must have shape (T, n_classes), got {x.shape}")
    if not 0 <= blank < x.shape[1]:
        raise ValueError(f"blank index {blank} is outside [0, {x.shape[1]})")
    if x.shape[0] == 0:
        return []
    best = np.argmax(x, axis=1)
    keep = np.ones(best.shape, dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    keep &= best != blank
    return [int(v) for v in best[keep]]


def _encode(a: Sequence[Hashable], b: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Map two token sequences onto shared integer ids so they can be compared with numpy."""
    vocab: dict[Hashable, int] = {}
    aa = np.fromiter((vocab.setdefault(t, len(vocab)) for t in a), dtype=np.int64, count=len(a))
    bb = np.fromiter((vocab.setdefault(t, len(vocab)) for t in b), dtype=np.int64, count=len(b))
    return aa, bb


def levenshtein(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Edit distance (insertions, deletions, substitutions, each cost 1) between token sequences.

    Works on lists of ints (phoneme ids), strings or any hashable tokens. Row-by-row dynamic
    programming vectorised with numpy: the insertion recurrence ``row[j] = min(row[j], row[j-1]+1)``
    is solved for a whole row at once as ``j + cumulative_min(row[j] - j)``, so a pair of
    100-token sentences costs ~100 numpy calls.
    """
    if isinstance(a, np.ndarray):
        a = a.tolist()
    if isinstance(b, np.ndarray):
        b = b.tolist()
    a, b = list(a), list(b)
    if len(a) < len(b):
        a, b = b, a  # iterate over the longer one, vectorise over the shorter
    if len(b) == 0:
        return len(a)
    aa, bb = _encode(a, b)
    m = len(bb)
    offsets = np.arange(m + 1, dtype=np.int64)
    prev = offsets.copy()
    for i, token in enumerate(aa, start=1):
        cur = np.empty(m + 1, dtype=np.int64)
        cur[0] = i
        # substitution (or match) from the diagonal, deletion from above
        cur[1:] = np.minimum(prev[:-1] + (bb != token), prev[1:] + 1)
        # insertion from the left: cur[j] = min_k<=j (cur[k] + j - k)
        cur = np.minimum.accumulate(cur - offsets) + offsets
        prev = cur
    return int(prev[-1])


def _per_sentence(refs, hyps) -> tuple[np.ndarray, np.ndarray]:
    refs, hyps = list(refs), list(hyps)
    if len(refs) != len(hyps):
        raise ValueError(f"got {len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise ValueError("need at least one sentence")
    dist = np.array([levenshtein(r, h) for r, h in zip(refs, hyps)], dtype=np.float64)
    length = np.array([len(r) for r in refs], dtype=np.float64)
    if length.sum() == 0:
        raise ValueError("all reference sentences are empty, so the error rate is undefined")
    return dist, length


def phoneme_error_rate(refs: Sequence[Sequence[int]], hyps: Sequence[Sequence[int]]) -> float:
    """Corpus PER: summed edit distance over summed reference length (can exceed 1)."""
    dist, length = _per_sentence(refs, hyps)
    return float(dist.sum() / length.sum())


def per_bootstrap_ci(
    refs: Sequence[Sequence[int]],
    hyps: Sequence[Sequence[int]],
    n_resamples: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval of corpus PER, resampling whole sentences.

    Edit distances are computed once per sentence; each resample then only sums counts, in
    blocks to bound memory, so 10,000 resamples of 1,000 sentences take well under a second.
    Reproducible for a given ``seed``. Resamples that happen to draw only empty references are
    skipped (their PER is undefined).
    """
    dist, length = _per_sentence(refs, hyps)
    return ratio_bootstrap_ci(dist, length, n_resamples, seed, alpha)


def ratio_bootstrap_ci(
    dist: np.ndarray, length: np.ndarray, n_resamples: int = 10000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap interval of sum(dist) / sum(length), resampling whole sentences: the
    PER interval from per-sentence edit distances and reference lengths (e.g. pooled over
    sessions from stored records, without the sentences themselves)."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    dist, length = np.asarray(dist, np.float64), np.asarray(length, np.float64)
    if dist.shape != length.shape or dist.ndim != 1 or dist.size == 0 or length.sum() <= 0:
        raise ValueError(f"need one distance and one positive total length per sentence; got {dist.shape}, {length.shape}")
    n = dist.size
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, 2_000_000 // n))
    rates = []
    done = 0
    while done < n_resamples:
        k = min(block, n_resamples - done)
        idx = rng.integers(0, n, size=(k, n))
        num = dist[idx].sum(axis=1)
        den = length[idx].sum(axis=1)
        ok = den > 0
        rates.append(num[ok] / den[ok])
        done += k
    all_rates = np.concatenate(rates)
    if all_rates.size == 0:  # pragma: no cover - needs nearly all references empty
        raise ValueError("every resample drew only empty references")
    low, high = np.quantile(all_rates, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
