"""The chunk grid and the window samplers: one grid everywhere, windows that cover their queries."""

import numpy as np
import pytest

from bench.models.base import chunk_segment
from bench.models.windows import (
    chunk_edges,
    query_windows,
    stitch_mean,
    streaming_windows,
    tile_bounds,
    tiled_windows,
    trailing_windows,
)
from bench.tasks.base import Segment
from bench.tasks.reaching import ReachingVelocity
from tests.conftest import make_recording

CHUNK_S = 0.05


@pytest.fixture(scope="module")
def data():
    return ReachingVelocity().prepare(make_recording(n_trials=10), CHUNK_S)


@pytest.fixture(scope="module")
def segments(data):
    return data.segments("train")


def toy_segment(rec, start, end, query_times):
    n = query_times.size
    return Segment(rec, start, end, query_times, np.zeros((n, 2), np.float32), np.ones(n, np.float32), np.ones(n, bool))


def test_streaming_chunks_and_offline_windows_share_the_grid_to_the_last_float(data):
    for seg in data.segments("test"):
        chunks = chunk_segment(seg, CHUNK_S)
        edges = chunk_edges(seg.start, seg.end, CHUNK_S)
        assert [c.start for c in chunks] == edges[:-1].tolist() and [c.end for c in chunks] == edges[1:].tolist()
        assert edges[-1] == seg.end
        windows = streaming_windows(seg, CHUNK_S, 1.0)
        assert windows.ends.tolist() == [c.end for c in chunks]
        # each query sits in the chunk that streams it
        for i, c in enumerate(chunks):
            np.testing.assert_array_equal(seg.query_times[windows.query_chunk == i], c.query_times)
        rows, slots = windows.query_row, windows.query_slot
        assert np.all(windows.chunks_with_queries[rows] == windows.query_chunk)
        assert np.all(windows.first_query[rows] + slots == np.arange(seg.query_times.size))


def test_streaming_windows_clip_at_segment_start(data):
    seg = next(s for s in data.segments("test") if s.duration > 1.5)
    w = streaming_windows(seg, CHUNK_S, 1.0)
    ws, we = w.starts, w.ends
    assert ws[0] == seg.start and we[0] == pytest.approx(seg.start + CHUNK_S)
    assert ws[19] == seg.start and we[19] == pytest.approx(seg.start + 1.0)  # first full window
    assert ws[20] == pytest.approx(seg.start + 0.05) and we[20] - ws[20] == pytest.approx(1.0)
    assert np.all(ws >= seg.start) and np.all(we - ws <= 1.0 + 1e-9)


def _offsets(wins, segs):
    """Chunk offset of each segment's first window."""
    first = {}
    for w in wins:
        for i, s in enumerate(segs):
            if s.start - 1e-9 <= w.start < s.end and i not in first:
                first[i] = round((w.start - s.start) / CHUNK_S, 6)
    return first


def test_fixed_windows_start_at_every_segment_start(segments):
    wins = tiled_windows(segments, 1.0, 0.5, CHUNK_S)
    assert set(_offsets(wins, segments).values()) == {0}
    assert all(abs(w.duration - 1.0) < 1e-9 or w.end == s.end for w in wins for s in segments if s.start <= w.start < s.end)


def test_random_windows_start_at_random_chunk_offsets(segments):
    rng = np.random.default_rng(0)
    draws = [tiled_windows(segments, 1.0, 0.5, CHUNK_S, rng) for _ in range(20)]
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
    again = tiled_windows(segments, 1.0, 0.5, CHUNK_S, np.random.default_rng(0))
    assert [w.start for w in again] == [w.start for w in draws[0]]


def test_tile_bounds_cover_the_end_only_when_asked():
    assert tile_bounds(43, 20, 10) == [(0, 20), (10, 30), (20, 40)]
    assert tile_bounds(43, 20, 10, cover_end=True) == [(0, 20), (10, 30), (20, 40), (23, 43)]
    assert tile_bounds(15, 20, 10, cover_end=True) == [(0, 15)]  # shorter than a window: one window
    assert tile_bounds(43, 20, 10, first=3) == [(3, 23), (13, 33), (23, 43)]


def test_windows_covering_the_end_hold_every_query(segments):
    wins = tiled_windows(segments, 1.0, 0.5, CHUNK_S, cover_end=True, keep_empty=True)
    held = np.concatenate([w.query_times for w in wins])
    assert set(np.concatenate([s.query_times for s in segments]).tolist()) <= set(held.tolist())


def test_trailing_windows_hold_each_query_once_at_their_trailing_edge(segments):
    segs = [s for s in segments if s.duration > 1.5][:6]
    draws = [trailing_windows(segs, 1.0, 0.25, CHUNK_S, np.random.default_rng(k)) for k in range(3)]
    for wins in draws:
        assert sum(w.query_times.size for w in wins) == sum(s.query_times.size for s in segs)
        for w in wins:
            seg = next(s for s in segs if s.start <= w.start and w.end <= s.end + 1e-9)
            assert w.end - w.start <= 1.0 + 1e-9 and np.all(w.query_times >= w.end - 0.25 - 1e-9)
            if w.end - seg.start < 1.0 - 1e-9:  # in a segment's first second: a fresh stream's window
                assert w.start == seg.start
            assert w.end in chunk_edges(seg.start, seg.end, CHUNK_S)
    assert len({round(ws[0].end - segs[0].start, 6) for ws in draws}) > 1  # the phase moves between draws
    fixed = trailing_windows(segs, 1.0, 0.25, CHUNK_S)
    assert round(fixed[0].end - segs[0].start, 6) == 0.25  # validation: the fixed phase


def test_stitching_averages_the_paper_windows(data):
    # a 2.15 s segment: 1 s windows every 0.5 s, plus one aligned to the end
    q = 10.005 + 0.01 * np.arange(215)
    seg = toy_segment(data.recording, 10.0, 12.15, q)
    wins = tiled_windows([seg], 1.0, 0.5, CHUNK_S, cover_end=True, keep_empty=True)
    assert [(round(w.start, 6), round(w.end, 6)) for w in wins] == [(10.0, 11.0), (10.5, 11.5), (11.0, 12.0), (11.15, 12.15)]
    # window k outputs k at every query, so a query's mean is the mean of its windows' indices
    outputs = [np.full((w.query_times.size, 1), float(k)) for k, w in enumerate(wins)]
    by_hand = [0] * 50 + [0.5] * 50 + [1.5] * 15 + [2] * 35 + [2.5] * 50 + [3] * 15
    np.testing.assert_allclose(stitch_mean(seg, wins, outputs)[:, 0], by_hand)


def test_sampler_bounds_give_as_many_windows_as_fit_at_random_phases():
    from bench.models.windows import sampler_bounds

    rng = np.random.default_rng(0)
    for n in (20, 21, 39, 40, 41, 59, 87):
        phases = set()
        for _ in range(30):
            bounds = sampler_bounds(n, 20, rng)
            assert len(bounds) == n // 20
            assert all(0 <= i0 and i1 <= n and i1 - i0 == 20 for i0, i1 in bounds)
            phases.add(bounds[0][0])
        assert len(phases) > (1 if n >= 21 else 0)
    assert sampler_bounds(13, 20, rng) == [(0, 13)]  # shorter than a window: the whole span


# ------------------------------------------------------------------ windows anchored on sparse queries
def readout_segments(rec, n=12, seed=0):
    """Trial-like segments of 1.2 .. 2.5 s on the grid, one readout query just before the end."""
    rng = np.random.default_rng(seed)
    out, t = [], 0.0
    for _ in range(n):
        d = CHUNK_S * int(rng.integers(24, 51))
        out.append(toy_segment(rec, t, t + d, np.array([t + d - 1e-6])))
        t += d + 0.5
    return out


@pytest.mark.parametrize("window_s", [0.5, 1.0, 3.0])
def test_query_windows_end_at_the_readout_with_their_context_before(data, window_s):
    segs = readout_segments(data.recording)
    for rng in (None, np.random.default_rng(0)):
        wins = query_windows(segs, window_s, CHUNK_S, rng)
        assert len(wins) == len(segs)  # one window per trial, every call
        for seg, w in zip(segs, wins):
            assert w.end == seg.end and w.query_times.tolist() == seg.query_times.tolist()
            assert w.start == pytest.approx(max(seg.start, seg.end - window_s), abs=1e-9)


def test_tiled_windows_at_random_phases_miss_most_readouts(data):
    """Why query_windows exists: random tiles hold a trial's end-of-trial readout only by chance."""
    segs = readout_segments(data.recording, n=40)
    rng = np.random.default_rng(0)
    held = [len(tiled_windows(segs, 1.0, 0.5, CHUNK_S, rng)) for _ in range(5)]
    assert max(held) < len(segs) / 2


def test_query_windows_of_sparse_queries_end_at_or_after_each_at_random(data):
    """Mid-segment queries: each query chunk gets one window that holds it, ending at a random chunk
    at most a window after it, never past the segment end, clipped at the segment start."""
    rec = data.recording
    qt = np.array([0.31, 0.34, 1.52, 2.91, 3.98])  # 0.31 and 0.34 share a chunk: one window
    seg = toy_segment(rec, 0.0, 4.0, qt)
    rng = np.random.default_rng(1)
    ends = []
    for _ in range(30):
        wins = query_windows([seg], 1.0, CHUNK_S, rng)
        assert len(wins) == 4
        for anchor, w in zip([0.31, 1.52, 2.91, 3.98], wins):
            assert anchor in w.query_times.tolist() and w.query_times.max() < w.end
            assert anchor < w.end <= min(seg.end, anchor + 1.0) + 1e-9
            assert w.start == pytest.approx(max(0.0, w.end - 1.0), abs=1e-9)
        ends.append([w.end for w in wins])
    ends = np.array(ends)
    assert all(np.unique(ends[:, i]).size > 5 for i in range(3))  # random ends after the query...
    assert np.allclose(ends[:, 3], 4.0)  # ...but never past the segment end
    fixed = query_windows([seg], 1.0, CHUNK_S)  # without rng: ending at the query's chunk end
    assert [w.end for w in fixed] == pytest.approx([0.35, 1.55, 2.95, 4.0])


def test_query_windows_take_crops_side_of_a_query_on_a_chunk_edge(data):
    """A query on (or a rounding away from) a chunk edge is anchored where crop puts it, so it is held."""
    edges = chunk_edges(0.0, 2.0, CHUNK_S)
    qt = np.array([edges[7], np.nextafter(edges[13], 0.0), edges[20]])
    seg = toy_segment(data.recording, 0.0, 2.0, qt)
    for w in query_windows([seg], CHUNK_S, CHUNK_S):  # one-chunk windows: no slack either side
        assert w.query_times.size == 1
