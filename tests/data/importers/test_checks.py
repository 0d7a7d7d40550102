"""Array checks: whole counts and labels within float tolerance, errors that show the real value."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.importers import import_arrays
from bench.data.importers.checks import WHOLE_TOLERANCE
from bench.errors import DataError
from tests.data.importers.helpers import rebin


def test_counts_within_tolerance_of_whole_numbers_are_accepted():
    counts = np.array([[5.000000000000018, 1.0], [0.0, 2.9999999999999996], [7.0 + 3e-6, 0.0]])
    rec = import_arrays(dict(counts=counts), bin_size_s=0.02)
    np.testing.assert_array_equal(rebin(rec.spike_times, rec.spike_units, 2, 0.0, 3, 0.02), [[5, 1], [0, 3], [7, 0]])


@pytest.mark.parametrize("value, shown", [(12.0000123, "12.0000123"), (0.5, "0.5"), (-1.0, "-1.0"), (np.nan, "nan")])
def test_refused_count_shows_its_real_value(value, shown):
    counts = np.ones((3, 2))
    counts[2, 1] = value
    with pytest.raises(DataError, match=rf"whole, non-negative.*{WHOLE_TOLERANCE:g}.*found {shown} at index \(2, 1\)"):
        import_arrays(dict(counts=counts), bin_size_s=0.02)


def test_labels_within_tolerance_and_refused_labels_show_their_value():
    counts = np.ones((4, 2), np.int64)
    rec = import_arrays(dict(counts=counts, trial_id=[1, 1, 2, 2], label=[3.0000000000000004, 2.9999999999999996]),
                        bin_size_s=0.02, label_offset=1)
    np.testing.assert_array_equal(rec.trials.target_id, [2, 2])
    with pytest.raises(DataError, match=r"non-integer labels \(e\.g\. 2\.0001\)"):
        import_arrays(dict(counts=counts, trial_id=[1, 1, 2, 2], label=[1.0, 2.0001]), bin_size_s=0.02)
