import time

import numpy as np
import pytest

from bench.metrics.sequence import (
    greedy_ctc_decode,
    levenshtein,
    per_bootstrap_ci,
    phoneme_error_rate,
)


def _one_hot_logits(path, n_classes=5):
    logits = np.full((len(path), n_classes), -3.0)
    logits[np.arange(len(path)), path] = 2.0
    return logits


def test_greedy_ctc_merges_repeats_and_drops_blanks():
    #           blank, 1, 1, blank, 1, 2, 2, 2, blank, blank, 3, 4, 4
    path = [0, 1, 1, 0, 1, 2, 2, 2, 0, 0, 3, 4, 4]
    assert greedy_ctc_decode(_one_hot_logits(path)) == [1, 1, 2, 3, 4]


def test_greedy_ctc_log_probs_and_custom_blank():
    path = [4, 2, 2, 4, 2, 4]
    logits = _one_hot_logits(path)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert greedy_ctc_decode(log_probs, blank=4) == [2, 2]
    assert greedy_ctc_decode(np.zeros((0, 5))) == []
    assert greedy_ctc_decode(_one_hot_logits([0, 0, 0])) == []
    assert all(type(t) is int for t in greedy_ctc_decode(logits))


def test_greedy_ctc_validation():
    with pytest.raises(ValueError):
        greedy_ctc_decode(np.zeros(5))
    with pytest.raises(ValueError):
        greedy_ctc_decode(np.zeros((3, 4)), blank=4)


@pytest.mark.parametrize(
    "a, b, d",
    [
        ("kitten", "sitting", 3),
        ("sitting", "kitten", 3),
        ("", "", 0),
        ("", "abc", 3),
        ("abc", "", 3),
        ("flaw", "lawn", 2),
        ("abc", "abc", 0),
        ([1, 2, 3], [3, 2, 1], 2),
        ([1, 2, 3, 4], [2, 3, 4], 1),
        ([5], [7], 1),
    ],
)
def test_levenshtein_known_pairs(a, b, d):
    assert levenshtein(a, b) == d
    assert type(levenshtein(a, b)) is int


def _reference_levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def test_levenshtein_matches_plain_dp_on_random_sequences():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.integers(0, 4, size=rng.integers(0, 15)).tolist()
        b = rng.integers(0, 4, size=rng.integers(0, 15)).tolist()
        assert levenshtein(a, b) == _reference_levenshtein(a, b)
    a, b = rng.integers(0, 4, size=10), rng.integers(0, 4, size=12)
    assert levenshtein(a, b) == _reference_levenshtein(a.tolist(), b.tolist())


def test_phoneme_error_rate_toy_corpus():
    refs = [[1, 2, 3, 4], [5, 6], [7, 8, 9, 10]]
    hyps = [[1, 2, 3, 4], [5], [7, 0, 9, 10, 11]]
    # distances 0, 1, 2 over 10 reference phonemes
    assert phoneme_error_rate(refs, hyps) == pytest.approx(0.3)
    # corpus rate, not the mean of sentence rates (which would be (0 + 0.5 + 0.5) / 3)
    assert phoneme_error_rate(refs, hyps) != pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        phoneme_error_rate(refs, hyps[:2])
    with pytest.raises(ValueError):
        phoneme_error_rate([[]], [[1]])


def _toy_corpus(n, seed=0):
    rng = np.random.default_rng(seed)
    refs, hyps = [], []
    for _ in range(n):
        ref = rng.integers(1, 40, size=rng.integers(5, 30)).tolist()
        hyp = [t if rng.random() > 0.2 else int(rng.integers(1, 40)) for t in ref]
        if rng.random() < 0.3:
            hyp = hyp[:-1]
        refs.append(ref)
        hyps.append(hyp)
    return refs, hyps


def test_bootstrap_ci_contains_estimate_and_is_reproducible():
    refs, hyps = _toy_corpus(200)
    per = phoneme_error_rate(refs, hyps)
    low, high = per_bootstrap_ci(refs, hyps, n_resamples=2000, seed=3)
    assert low < per < high
    assert 0 < high - low < 0.2
    assert (low, high) == per_bootstrap_ci(refs, hyps, n_resamples=2000, seed=3)
    assert (low, high) != per_bootstrap_ci(refs, hyps, n_resamples=2000, seed=4)
    narrow = per_bootstrap_ci(refs, hyps, n_resamples=2000, seed=3, alpha=0.5)
    assert low <= narrow[0] <= narrow[1] <= high


def test_bootstrap_is_fast():
    refs, hyps = _toy_corpus(1000, seed=1)
    # identical per-sentence work is done once; time only the resampling part generously
    start = time.perf_counter()
    per_bootstrap_ci(refs, hyps, n_resamples=10000, seed=0)
    assert time.perf_counter() - start < 5.0  # < 1 s on an idle machine; shared CPUs are noisy


def test_bootstrap_validation():
    with pytest.raises(ValueError):
        per_bootstrap_ci([[1]], [[1]], n_resamples=0)
    with pytest.raises(ValueError):
        per_bootstrap_ci([[1]], [[1]], alpha=1.5)
