import numpy as np
import pytest

from bench.models.torch_decoder import window_segments
from bench.tasks.reaching import ReachingVelocity
from tests.conftest import make_recording

CHUNK_S = 0.05


@pytest.fixture(scope="module")
def segments():
    return ReachingVelocity().prepare(make_recording(n_trials=10), CHUNK_S).segments("train")


def _offsets(wins, segs):
    """Chunk offset of each segment's first window."""
    first = {}
    for w in wins:
        for i, s in enumerate(segs):
            if s.start - 1e-9 <= w.start < s.end and i not in first:
                first[i] = round((w.start - s.start) / CHUNK_S, 6)
    return first


def test_fixed_windows_start_at_every_segment_start(segments):
    wins = window_segments(segments, 1.0, 0.5, CHUNK_S)
    assert set(_offsets(wins, segments).values()) == {0}
    assert all(abs(w.duration - 1.0) < 1e-9 or w.end == s.end for w in wins for s in segments if s.start <= w.start < s.end)


def test_random_windows_start_at_random_chunk_offsets(segments):
    rng = np.random.default_rng(0)
    draws = [window_segments(segments, 1.0, 0.5, CHUNK_S, rng) for _ in range(20)]
    offsets = [o for wins in draws for o in _offsets(wins, segments).values()]
    # whole chunks, below the stride (10 chunks), and they vary
    assert all(float(o).is_integer() and 0 <= o < 10 for o in offsets)
    assert len(set(offsets)) >= 8
    for wins in draws:
        for w in wins:
            seg = next(s for s in segments if s.start - 1e-9 <= w.start < s.end)
            assert w.end <= seg.end + 1e-9 and w.duration <= 1.0 + 1e-9
            assert np.all((w.query_times >= w.start) & (w.query_times < w.end)) and w.query_times.size
    # reproducible from the generator's seed
    again = window_segments(segments, 1.0, 0.5, CHUNK_S, np.random.default_rng(0))
    assert [w.start for w in again] == [w.start for w in draws[0]]
