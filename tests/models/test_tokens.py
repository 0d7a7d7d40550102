"""Unit dropout as a batch transform: whole units go, per sample, with the draws of its rng."""

import numpy as np
import torch

from bench.models.tokens import unit_dropout_keep, unit_dropout_mask


def test_unit_dropout_keep_drops_whole_units_per_sample():
    units_of = {0: np.arange(100), 1: np.arange(100, 120)}  # session 1 is below the minimum: kept whole
    tokens = torch.tensor([[5, 7, 5, 99, 0], [100, 119, 100, 0, 0]])
    sessions = torch.tensor([0, 1])
    keep = unit_dropout_keep(tokens, sessions, units_of, np.random.default_rng(3), minimum=60)
    kept0 = set(np.arange(100)[unit_dropout_mask(100, np.random.default_rng(3), minimum=60)].tolist())
    assert keep[0].tolist() == [int(u) in kept0 for u in tokens[0]]
    assert keep[0, 0] == keep[0, 2]  # both spikes of a unit share its fate
    assert keep[1].tolist() == [True, True, True, False, False]  # unit 0 is not session 1's: padding
    assert 60 <= len(kept0) < 100


def test_capped_rule_keeps_a_small_population_whole_and_always_thins_a_large_one():
    rng = np.random.default_rng(0)
    small = [unit_dropout_mask(90, rng, capped=True).sum() for _ in range(2000)]
    assert np.mean(np.array(small) < 90) < 0.01  # triangular(60, 300, 1000) < 90: 0.4 %
    old = np.array([unit_dropout_mask(90, rng).sum() for _ in range(500)])
    assert np.mean(old < 90) > 0.9  # the old rule thins almost always (a draw rounding to 90 keeps all)
    large = np.array([unit_dropout_mask(2000, rng, capped=True).sum() for _ in range(500)])
    assert large.min() >= 60 and large.max() <= 1000 and 250 < np.median(large) < 500
    assert unit_dropout_mask(40, rng, capped=True).all()  # under the minimum: whole
