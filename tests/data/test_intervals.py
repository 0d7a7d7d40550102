import numpy as np

from bench.data.intervals import Intervals


def test_contains_half_open():
    iv = Intervals(np.array([0.0, 2.0]), np.array([1.0, 3.0]))
    np.testing.assert_array_equal(iv.contains(np.array([-0.1, 0.0, 0.99, 1.0, 2.5, 3.0])),
                                  [False, True, True, False, True, False])


def test_intersect_union_difference():
    a = Intervals(np.array([0.0, 5.0]), np.array([3.0, 8.0]))
    b = Intervals(np.array([2.0]), np.array([6.0]))
    i = a.intersect(b)
    np.testing.assert_allclose(i.start, [2.0, 5.0]); np.testing.assert_allclose(i.end, [3.0, 6.0])
    u = a.union(b)
    np.testing.assert_allclose(u.start, [0.0]); np.testing.assert_allclose(u.end, [8.0])
    d = a.difference(b)
    np.testing.assert_allclose(d.start, [0.0, 6.0]); np.testing.assert_allclose(d.end, [2.0, 8.0])
    assert a.duration == 6.0
