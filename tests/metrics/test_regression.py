import numpy as np
import pytest
from sklearn.metrics import r2_score

from bench.metrics.regression import aggregate_sessions, pooled_r2, r2_scores


@pytest.fixture
def example():
    y_true = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 35.0], [4.0, 35.0]])
    y_pred = np.array([[1.5, 12.0], [2.0, 18.0], [2.0, 30.0], [4.5, 40.0]])
    return y_true, y_pred


def test_perfect_prediction_is_one(example):
    y_true, _ = example
    out = r2_scores(y_true, y_true)
    assert out["r2"] == pytest.approx(1.0)
    assert out["r2_variance_weighted"] == pytest.approx(1.0)
    assert out["r2_per_dim"] == pytest.approx([1.0, 1.0])
    assert out["constant_dims"] == []


def test_predicting_the_mean_is_zero(example):
    y_true, _ = example
    pred = np.broadcast_to(y_true.mean(axis=0), y_true.shape)
    out = r2_scores(y_true, pred)
    assert out["r2"] == pytest.approx(0.0, abs=1e-12)
    assert out["r2_variance_weighted"] == pytest.approx(0.0, abs=1e-12)


def test_hand_computed_example(example):
    y_true, y_pred = example
    # dim 0: mean 2.5, ss_tot = 5, ss_res = 0.25 + 0 + 1 + 0.25 = 1.5 -> 0.7
    # dim 1: mean 25, ss_tot = 225 + 25 + 100 + 100 = 450, ss_res = 4 + 4 + 25 + 25 = 58
    r2_1 = 1 - 58 / 450
    out = r2_scores(y_true, y_pred)
    assert out["r2_per_dim"] == pytest.approx([0.7, r2_1])
    assert out["r2"] == pytest.approx((0.7 + r2_1) / 2)
    assert out["r2_variance_weighted"] == pytest.approx(1 - (1.5 + 58) / (5 + 450))
    assert out["r2"] == pytest.approx(r2_score(y_true, y_pred, multioutput="uniform_average"))
    assert out["r2_variance_weighted"] == pytest.approx(
        r2_score(y_true, y_pred, multioutput="variance_weighted")
    )


def test_matches_sklearn_with_sample_weights():
    rng = np.random.default_rng(1)
    y_true = rng.normal(size=(50, 3)) * [1.0, 5.0, 0.2]
    y_pred = y_true + rng.normal(size=(50, 3))
    w = rng.uniform(0, 2, size=50)
    out = r2_scores(y_true, y_pred, weights=w)
    assert out["r2"] == pytest.approx(r2_score(y_true, y_pred, sample_weight=w))
    assert out["r2_variance_weighted"] == pytest.approx(
        r2_score(y_true, y_pred, sample_weight=w, multioutput="variance_weighted")
    )
    assert out["r2_per_dim"] == pytest.approx(
        r2_score(y_true, y_pred, sample_weight=w, multioutput="raw_values").tolist()
    )


def test_boolean_mask_equals_subsetting(example):
    y_true, y_pred = example
    rng = np.random.default_rng(0)
    y_true = np.concatenate([y_true, rng.normal(size=(3, 2)) * 100])
    y_pred = np.concatenate([y_pred, np.zeros((3, 2))])  # terrible predictions, masked out
    mask = np.array([True] * 4 + [False] * 3)
    assert r2_scores(y_true, y_pred, weights=mask) == r2_scores(y_true[:4], y_pred[:4])
    assert r2_scores(y_true, y_pred)["r2"] < r2_scores(y_true[:4], y_pred[:4])["r2"]


def test_one_dimensional_input():
    y = np.array([1.0, 2.0, 3.0])
    assert r2_scores(y, y)["r2"] == pytest.approx(1.0)
    assert len(r2_scores(y, y)["r2_per_dim"]) == 1


def test_constant_dimension_is_excluded():
    y_true = np.array([[1.0, 0.3], [2.0, 0.3], [3.0, 0.3]])
    y_pred = np.array([[1.0, 0.0], [2.5, 1.0], [3.0, 0.3]])
    out = r2_scores(y_true, y_pred)
    expected = 1 - 0.25 / 2.0
    assert out["constant_dims"] == [1]
    assert out["r2_per_dim"][1] is None
    assert out["r2_per_dim"][0] == pytest.approx(expected)
    assert out["r2"] == pytest.approx(expected)
    assert out["r2_variance_weighted"] == pytest.approx(expected)
    assert np.isfinite(out["r2"])


def test_constant_within_mask_counts_as_constant():
    y_true = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 9.0]])
    out = r2_scores(y_true, y_true, weights=[1, 1, 0])
    assert out["constant_dims"] == [1]


def test_all_constant_raises():
    with pytest.raises(ValueError, match="constant"):
        r2_scores(np.ones((4, 2)), np.zeros((4, 2)))


@pytest.mark.parametrize(
    "y_true, y_pred, weights, match",
    [
        (np.zeros((4, 2)), np.zeros((4, 3)), None, "same shape"),
        (np.zeros((4, 2, 1)), np.zeros((4, 2, 1)), None, "n_samples, n_dims"),
        (np.zeros((0, 2)), np.zeros((0, 2)), None, "at least one"),
        (np.arange(4.0), np.arange(4.0), np.ones(3), "one entry per sample"),
        (np.arange(4.0), np.arange(4.0), -np.ones(4), "non-negative"),
        (np.arange(4.0), np.arange(4.0), np.zeros(4), "sum to zero"),
        (np.array([1.0, np.nan]), np.zeros(2), None, "NaN"),
    ],
)
def test_validation_errors(y_true, y_pred, weights, match):
    with pytest.raises(ValueError, match=match):
        r2_scores(y_true, y_pred, weights=weights)


def test_pooled_r2_concatenates_trials():
    rng = np.random.default_rng(2)
    trials = []
    for offset in (0.0, 5.0, -3.0):
        t = rng.normal(size=(10, 2)) + offset
        trials.append((t, t + 0.3 * rng.normal(size=t.shape)))
    all_t = np.concatenate([t for t, _ in trials])
    all_p = np.concatenate([p for _, p in trials])
    assert pooled_r2(trials) == pytest.approx(r2_score(all_t, all_p))
    # pooling counts trial offsets as explained variance: higher than mean per-trial R^2
    per_trial = np.mean([r2_scores(t, p)["r2"] for t, p in trials])
    assert pooled_r2(trials) > per_trial


def test_pooled_r2_validation():
    with pytest.raises(ValueError, match="at least one"):
        pooled_r2([])
    with pytest.raises(ValueError, match="same number of dimensions"):
        pooled_r2([(np.zeros((3, 2)), np.zeros((3, 2))), (np.zeros((3, 1)), np.zeros((3, 1)))])
    with pytest.raises(ValueError, match="item 1"):
        pooled_r2([(np.zeros((3, 2)), np.zeros((3, 2))), (np.zeros((3, 2)), np.zeros((2, 2)))])


def test_aggregate_sessions():
    out = aggregate_sessions([0.5, 0.7, 0.9])
    assert out["mean"] == pytest.approx(0.7)
    assert out["sd"] == pytest.approx(0.2)  # sample SD, ddof=1
    assert out["n"] == 3
    assert aggregate_sessions([0.4]) == {"mean": 0.4, "sd": 0.0, "n": 1}
    assert all(isinstance(v, (int, float)) for v in out.values())
    with pytest.raises(ValueError):
        aggregate_sessions([])
    with pytest.raises(ValueError):
        aggregate_sessions([0.1, float("nan")])
