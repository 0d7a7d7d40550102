"""Cell statistics and the paired comparison with a reference decoder, on hand-checked numbers."""

import math

import numpy as np
import pytest

from bench.results.stats import MIN_PAIRS, cell_stats, paired_test, t_interval


def test_cell_is_mean_and_sd_over_sessions_of_seed_means_with_a_t_interval():
    results = {"a": {0: 0.70, 1: 0.72, 2: 0.74}, "b": {0: 0.80, 1: 0.80, 2: 0.83}, "c": {0: 0.60, 1: 0.62}}
    cell = cell_stats(results)
    means = np.array([0.72, 0.81, 0.61])
    assert cell.mean == pytest.approx(means.mean()) and cell.sd == pytest.approx(means.std(ddof=1))
    half = 4.302652729911275 * means.std(ddof=1) / math.sqrt(3)  # t(0.975, 2 df)
    assert (cell.ci_low, cell.ci_high) == pytest.approx((means.mean() - half, means.mean() + half))
    assert (cell.n_sessions, cell.seeds_min, cell.seeds_max, cell.spread_over) == (3, 2, 3, "sessions")


def test_one_session_spreads_over_its_seeds_and_one_result_has_no_spread():
    seeds = cell_stats({"only": {0: 0.5, 1: 0.7, 2: 0.6}})
    assert seeds.spread_over == "seeds" and seeds.sd == pytest.approx(0.1) and seeds.ci_low < 0.6 < seeds.ci_high
    single = cell_stats({"only": {0: 0.5}})
    assert single.spread_over == "none" and math.isnan(single.sd) and math.isnan(single.ci_low)
    assert t_interval(np.array([1.0])) != t_interval(np.array([1.0, 2.0]))


def _grid(values):
    """3 sessions x 3 seeds from a flat list of 9 values."""
    return {f"s{i}": {seed: values[3 * i + seed] for seed in range(3)} for i in range(3)}


def test_a_model_better_on_every_pair_is_significant_with_exact_p():
    ref = _grid([0.5] * 9)
    model = _grid([0.5 + 0.01 * (k + 1) for k in range(9)])
    t = paired_test(model, ref, higher_is_better=True)
    assert t.n_pairs == 9 and t.p_value == pytest.approx(2 / 2**9)  # exact two-sided signed-rank, all positive
    assert t.rank_biserial == 1.0 and t.median_diff == pytest.approx(0.05) and t.marker(True) == "▲"
    assert t.diff_ci_low < t.mean_diff < t.diff_ci_high and t.note == ""  # over 3 sessions: wide
    worse = paired_test(ref, model, higher_is_better=True)
    assert worse.rank_biserial == -1.0 and worse.marker(True) == "▼" and worse.median_diff == pytest.approx(-0.05)


def test_lower_is_better_turns_the_effect_size_and_the_marker():
    per_ref = _grid([0.30] * 9)
    per_model = _grid([0.30 - 0.01 * (k + 1) for k in range(9)])  # lower PER: better
    t = paired_test(per_model, per_ref, higher_is_better=False)
    assert t.median_diff < 0 and t.rank_biserial == 1.0 and t.marker(False) == "▲"


def test_rank_biserial_by_hand():
    ref = {"s": {k: 0.0 for k in range(6)}}
    model = {"s": {k: d for k, d in enumerate([1.0, -2.0, 3.0, 4.0, 5.0, 6.0])}}
    t = paired_test(model, ref, higher_is_better=True)
    assert t.rank_biserial == pytest.approx((19 - 2) / 21)  # W+ = 1+3+4+5+6, W- = 2
    assert 0.05 < t.p_value < 0.2 and t.marker(True) == ""  # not significant: no marker


def test_too_few_pairs_give_no_p_value_and_say_why():
    ref = {"s": {0: 0.5, 1: 0.5}, "t": {0: 0.5, 1: 0.5, 2: 0.5}}
    model = {"s": {0: 0.6, 1: 0.7}, "t": {0: 0.6, 1: 0.6, 2: 0.6}}
    t = paired_test(model, ref, higher_is_better=True)
    assert t.n_pairs == 5 < MIN_PAIRS and t.p_value is None and t.marker(True) == ""
    assert "too few" in t.note and t.rank_biserial == 1.0
    same = paired_test(ref, ref, higher_is_better=True)
    assert same.p_value is None and "zero" in same.note
    apart = paired_test({"s": {5: 0.1}}, ref, higher_is_better=True)
    assert apart.n_pairs == 0 and "no (session, seed)" in apart.note


def test_only_common_session_seed_pairs_are_compared():
    ref = {"s": {0: 0.5, 1: 0.5}, "gone": {0: 0.9}}
    model = {"s": {0: 0.6, 1: 0.6, 2: 0.0}, "new": {0: 0.0}}
    t = paired_test(model, ref, higher_is_better=True)
    assert t.n_pairs == 2 and t.median_diff == pytest.approx(0.1)
    assert t.diff_ci_low == pytest.approx(0.1) == t.diff_ci_high  # one session: the interval over its 2 seeds
