"""Uncertainty and paired comparisons of leaderboard cells, from per-(session, seed) results.

A cell is a model on a dataset. Its value is the mean over sessions of each session's seed mean;
its spread is the SD over sessions of those seed means (sessions are the sample of recordings a
reader generalises over, seeds are nested in them), with a 95 % t-interval over sessions. With one
session there is no spread over sessions: the SD and interval are then over that session's seeds,
and marked as such; with one result there is neither.

Each model is compared with a reference decoder over the (session, seed) results both have, by the
Wilcoxon signed-rank test (two-sided) with two effect sizes: the median paired difference (model
minus reference, in the metric's units) and the matched-pairs rank-biserial correlation, oriented
so that a positive value means the model is better (``higher_is_better`` of the task: R^2 and
accuracy up, PER down). Below ``MIN_PAIRS`` non-zero differences the exact test cannot reach
p < 0.05 at all, so no p-value is given, and the reason is said instead. The paired results of one
session share its data, so they are not independent: the test ranks them as the field does, and
the interval of the mean difference over sessions (over seeds for one session) is given beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import stats as sps

# session (recording id) -> seed -> the run's primary metric on that session
SeedResults = Mapping[str, Mapping[int, float]]

CONFIDENCE = 0.95
ALPHA = 0.05
# The exact two-sided signed-rank test's smallest p with n pairs is 2 / 2**n: 0.0625 at n = 5.
MIN_PAIRS = 6
CI_METHOD = "95 % t-interval over sessions of seed means (over seeds when the dataset has one session)"
TEST_METHOD = ("two-sided Wilcoxon signed-rank test over paired (session, seed) results, zero differences "
               "dropped; effect sizes: median paired difference (model minus reference) and matched-pairs "
               "rank-biserial correlation r (positive: the model is better)")


@dataclass(frozen=True)
class CellStats:
    """One cell's summary; ``spread_over`` says what the SD and interval are over."""

    mean: float
    sd: float
    ci_low: float
    ci_high: float
    n_sessions: int
    seeds_min: int
    seeds_max: int
    spread_over: str  # "sessions", "seeds" (one session) or "none" (one result)


@dataclass(frozen=True)
class PairedTest:
    """A model against the reference over their common (session, seed) results."""

    n_pairs: int
    median_diff: float
    mean_diff: float
    diff_ci_low: float
    diff_ci_high: float
    rank_biserial: float
    p_value: float | None
    note: str  # why there is no p-value, or ""

    def marker(self, higher_is_better: bool) -> str:
        """'▲' significantly better than the reference, '▼' significantly worse, else ''."""
        if self.p_value is None or self.p_value >= ALPHA:
            return ""
        better = self.median_diff > 0 if higher_is_better else self.median_diff < 0
        if self.median_diff == 0:
            better = self.rank_biserial > 0
        return "▲" if better else "▼"


def t_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval of the mean; (nan, nan) below two values."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return math.nan, math.nan
    half = float(sps.t.ppf(0.5 + confidence / 2, v.size - 1) * np.std(v, ddof=1) / math.sqrt(v.size))
    m = float(np.mean(v))
    return m - half, m + half


def cell_stats(results: SeedResults) -> CellStats:
    """Mean, SD and 95 % interval of one cell from its per-session, per-seed results."""
    if not results or not all(results.values()):
        raise ValueError("cell_stats needs at least one result per session")
    session_means = np.array([np.mean(list(seeds.values())) for seeds in results.values()], dtype=np.float64)
    counts = [len(seeds) for seeds in results.values()]
    if session_means.size >= 2:
        spread, over = session_means, "sessions"
    else:
        spread = np.array(list(next(iter(results.values())).values()), dtype=np.float64)
        over = "seeds" if spread.size >= 2 else "none"
    sd = float(np.std(spread, ddof=1)) if spread.size >= 2 else math.nan
    low, high = t_interval(spread)
    return CellStats(float(np.mean(session_means)), sd, low, high, int(session_means.size), min(counts), max(counts),
                     over)


def paired_test(model: SeedResults, reference: SeedResults, higher_is_better: bool) -> PairedTest:
    """Signed-rank test and effect sizes of ``model`` against ``reference`` over common (session, seed)."""
    diffs, by_session = [], []
    for session, seeds in model.items():
        ref = reference.get(session, {})
        common = sorted(set(seeds) & set(ref))
        d = [float(seeds[s]) - float(ref[s]) for s in common]
        diffs += d
        if d:
            by_session.append(float(np.mean(d)))
    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 0:
        return PairedTest(0, math.nan, math.nan, math.nan, math.nan, math.nan, None,
                          "no (session, seed) result in common with the reference")
    low, high = t_interval(np.asarray(by_session) if len(by_session) > 1 else d)  # one session: over its seeds
    nonzero = d[d != 0]
    sign = 1.0 if higher_is_better else -1.0
    if nonzero.size:
        ranks = sps.rankdata(np.abs(nonzero))
        r = sign * float(ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / float(ranks.sum())
    else:
        r = 0.0
    if nonzero.size < MIN_PAIRS:
        why = ("every paired difference is zero" if not nonzero.size else
               f"{nonzero.size} non-zero paired difference(s): too few for a signed-rank test (at least "
               f"{MIN_PAIRS} are needed for p < {ALPHA} to be possible)")
        p = None
    else:
        why = ""
        p = float(sps.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided").pvalue)
    return PairedTest(int(d.size), float(np.median(d)), float(np.mean(d)), low, high, r, p, why)
