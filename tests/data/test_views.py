import numpy as np
import pytest

from bench.data.views import bin_spikes, binned_counts, counts_between, lagged, snap_inward
from tests.conftest import make_recording


def test_bin_spikes_counts_each_spike_once():
    t = np.array([0.0, 0.049, 0.05, 0.12, 0.3])
    u = np.array([0, 1, 0, 1, 0])
    c = bin_spikes(t, u, 2, 0.0, 3, 0.05)
    np.testing.assert_array_equal(c, [[1, 1], [1, 0], [0, 1]])  # 0.3 is past the 3 bins


def test_binned_counts_cached_and_total_preserved():
    rec = make_recording()
    a = binned_counts(rec, 0.05)
    assert binned_counts(rec, 0.05) is a
    assert a.sum() == rec.spike_times.size
    seg = counts_between(rec, 1.0, 2.0, 0.01)
    assert seg.shape == (100, rec.n_units)
    assert seg.sum() == np.sum((rec.spike_times >= 1.0) & (rec.spike_times < 2.0))


def test_lagged_uses_history_then_zeros():
    c = np.arange(6, dtype=np.float32).reshape(3, 2)
    f = lagged(c, 1)
    np.testing.assert_array_equal(f[0], [0, 1, 0, 0])
    np.testing.assert_array_equal(f[2], [4, 5, 2, 3])
    h = lagged(c, 1, history=np.array([[9, 9]], np.float32))
    np.testing.assert_array_equal(h[0], [0, 1, 9, 9])


def test_snap_inward_stays_inside():
    s, e = snap_inward(0.123, 1.977, 0.0, 0.05)
    assert s == pytest.approx(0.15) and e == pytest.approx(1.95)
