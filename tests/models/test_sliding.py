"""The sliding-window base: the stream buffers exactly the last context_s of spikes, and training
windows are drawn afresh every epoch only with random_windows."""

import numpy as np
import pytest

from bench.models.base import ModelParams, chunk_segment
from bench.models.sliding import SlidingWindowDecoder, SpikeWindowBuffer
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig
from tests.conftest import make_recording

CHUNK_S = 0.05


class CountParams(ModelParams):
    random_windows: bool = True


class WindowCounter(SlidingWindowDecoder):
    """Outputs, at each query, the number of spikes and the start of its window."""

    Params = CountParams

    @property
    def context_s(self) -> float:
        return 0.3

    def encode(self, seg):
        return {"start": np.asarray(seg.start), "end": np.asarray(seg.end)}

    def predict_window(self, start, chunk):
        n = self.window_buffer.times().size
        return np.tile([n, start], (chunk.query_times.size, 1))


@pytest.fixture(scope="module")
def data():
    return ReachingVelocity().prepare(make_recording(n_trials=6), CHUNK_S)


def test_buffer_keeps_the_spikes_from_a_time_on():
    buf = SpikeWindowBuffer()
    buf.append(np.array([0.1, 0.2]), np.array([1, 2]))
    buf.append(np.array([0.3, 0.4, 0.5]), np.array([3, 4, 5]))
    buf.evict_before(0.35)
    assert buf.times().tolist() == [0.4, 0.5] and np.concatenate(buf.parts(0)).tolist() == [4, 5]
    buf.evict_before(0.6)
    assert buf.times().size == 0 and buf.parts(0) == []


def test_stream_reads_the_window_clipped_at_the_stream_start(data):
    model = WindowCounter()
    model.spec, model.chunk_s = data.spec, CHUNK_S
    seg = data.segments("test")[0]
    rec = seg.recording
    model.reset(rec)
    for c in chunk_segment(seg, CHUNK_S):
        out = model.step(c)
        start = max(seg.start, c.end - 0.3)
        assert out.shape == (c.query_times.size, 2)
        if c.query_times.size:
            assert out[0, 1] == start
            assert out[0, 0] == rec.spikes_between(start, c.end)[0].size


def test_streams_like_predict_unless_stitching():
    assert WindowCounter().streams_like_predict

    class Stitching(WindowCounter):
        stitches_windows = True

    assert not Stitching().streams_like_predict


@pytest.mark.parametrize("random_windows", [True, False])
def test_training_examples_are_redrawn_only_with_random_windows(data, random_windows):
    model = WindowCounter(CountParams(random_windows=random_windows), seed=0)
    model.spec, model.chunk_s = data.spec, CHUNK_S
    model.target_mean, model.target_std = np.zeros(2, np.float32), np.ones(2, np.float32)
    segs = data.segments("train")
    examples = model.training_examples(segs, TrainConfig(window_s=0.5))
    if random_windows:
        starts = [[float(e["start"]) for e in examples(epoch)] for epoch in range(3)]
        assert starts[0] != starts[1] or starts[1] != starts[2]
    else:
        assert [float(e["start"]) for e in examples][:2] == [segs[0].start, segs[0].start + 0.25]
    whole = model.training_examples(segs, TrainConfig())  # no window_s: whole segments
    assert [float(e["start"]) for e in whole] == [s.start for s in segs]
