import numpy as np
import pytest

from bench.data.views import bin_spikes, binned_counts, counts_between, feature_between, lagged, snap_inward
from bench.errors import DataError
from tests.conftest import make_recording
from tests.data.feature_recordings import spike_band_power, threshold_crossings


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


# ----------------------------------------------------------------------------- feature streams


def _streams_recording():
    rec = make_recording(n_trials=3)
    tc, sbp = threshold_crossings(rec), spike_band_power(rec, n_channels=4)
    rec.features = {tc.name: tc, sbp.name: sbp}
    return rec


def test_feature_between_sums_counts_and_averages_continuous():
    rec = _streams_recording()
    tc = rec.features["threshold_crossings"].values
    np.testing.assert_array_equal(feature_between(rec, "threshold_crossings", 0.5, 1.0, 0.01), tc[50:100])
    # 10 ms crossings read at 50 ms: the 5-bin sums, which equal the spikes binned at 50 ms
    fifty = feature_between(rec, "threshold_crossings", 0.5, 1.0, 0.05)
    np.testing.assert_array_equal(fifty, tc[50:100].reshape(10, 5, -1).sum(axis=1))
    np.testing.assert_array_equal(fifty, counts_between(rec, 0.5, 1.0, 0.05))
    sbp = rec.features["spike_band_power"].values
    np.testing.assert_allclose(feature_between(rec, "spike_band_power", 0.4, 1.0, 0.1),
                               sbp[20:50].reshape(6, 5, -1).mean(axis=1), rtol=1e-6)


def test_feature_between_zero_pads_outside_the_stream():
    rec = _streams_recording()
    out = feature_between(rec, "threshold_crossings", -0.05, 0.05, 0.01)
    assert out.shape == (10, 16)
    assert not out[:5].any()
    np.testing.assert_array_equal(out[5:], rec.features["threshold_crossings"].values[:5])


@pytest.mark.parametrize("name, start, bin_s, message", [
    ("spike_band_power", 0.0, 0.05, "whole multiple"),
    ("spike_band_power", 0.01, 0.02, "not on its 20 ms grid"),
    ("lfp", 0.0, 0.02, r"no feature stream 'lfp' \(its streams: spike_band_power, threshold_crossings\)"),
])
def test_feature_between_errors_say_what_to_change(name, start, bin_s, message):
    with pytest.raises(DataError, match=message):
        feature_between(_streams_recording(), name, start, start + 0.2, bin_s)
