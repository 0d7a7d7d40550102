import time

import numpy as np
import pytest
import torch

from bench import latency
from bench.latency import LatencyStats, count_parameters, cuda_available, measure_step_latency


class Recorder:
    """A step function that records the chunks it saw and the reset calls between them."""

    def __init__(self):
        self.events = []

    def step(self, chunk):
        self.events.append(("step", chunk))
        return chunk

    def reset(self):
        self.events.append(("reset", None))

    @property
    def n_steps(self):
        return sum(e[0] == "step" for e in self.events)

    @property
    def n_resets(self):
        return sum(e[0] == "reset" for e in self.events)


class FakeClock:
    """perf_counter_ns stand-in: advanced only by the step function, so latencies are exact."""

    def __init__(self):
        self.ns = 0

    def __call__(self):
        return self.ns

    def advance_ms(self, ms):
        self.ns += int(round(ms * 1e6))


def test_sleeping_step_median_is_plausible():
    stats = measure_step_latency(lambda c: time.sleep(0.002), range(5), warmup=2, n_timed=15)
    assert 1.5 <= stats.median_ms <= 20.0
    assert stats.max_ms >= stats.p99_ms >= stats.p90_ms >= stats.median_ms > 0
    assert stats.n_chunks == 15


def test_warmup_and_timed_calls_are_counted_exactly():
    rec = Recorder()
    stats = measure_step_latency(rec.step, ["a", "b", "c"], warmup=5, n_timed=3)
    assert rec.n_steps == 8
    assert stats.n_chunks == 3 and stats.warmup == 5
    # warm-up cycles a, b, c, a, b; the timed pass then starts again at chunk 0
    assert [c for _, c in rec.events] == ["a", "b", "c", "a", "b", "a", "b", "c"]


def test_n_timed_defaults_to_number_of_chunks():
    rec = Recorder()
    stats = measure_step_latency(rec.step, [1, 2, 3, 4], warmup=0)
    assert rec.n_steps == 4 and stats.n_chunks == 4


def test_reset_called_first_and_on_wrap_around():
    rec = Recorder()
    measure_step_latency(rec.step, [0, 1, 2], warmup=0, n_timed=7, reset=rec.reset)
    kinds = [e if e[0] == "reset" else e[1] for e in rec.events]
    r = ("reset", None)
    assert kinds == [r, 0, 1, 2, r, 0, 1, 2, r, 0]
    assert rec.n_resets == 3


def test_reset_around_warmup():
    rec = Recorder()
    measure_step_latency(rec.step, [0, 1, 2], warmup=4, n_timed=2, reset=rec.reset)
    r = ("reset", None)
    kinds = [e if e[0] == "reset" else e[1] for e in rec.events]
    # reset first, wrap inside warm-up, fresh stream for the timed pass
    assert kinds == [r, 0, 1, 2, r, 0, r, 0, 1]


def test_statistics_with_fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(latency, "_now_ns", clock)
    durations = {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0, 4: 50.0}

    def step(chunk):
        clock.advance_ms(durations[chunk])

    stats = measure_step_latency(step, list(durations), warmup=3, budget_ms=3.5, chunk_ms=20.0)
    ms = np.array(list(durations.values()))
    assert stats.median_ms == pytest.approx(3.0)
    assert stats.mean_ms == pytest.approx(ms.mean())
    assert stats.p90_ms == pytest.approx(np.percentile(ms, 90))
    assert stats.p99_ms == pytest.approx(np.percentile(ms, 99))
    assert stats.max_ms == pytest.approx(50.0)
    assert stats.over_budget_fraction == pytest.approx(2 / 5)  # 4 ms and 50 ms
    assert stats.chunk_ms == 20.0 and stats.budget_ms == 3.5


def test_over_budget_fraction_counts_cycled_steps(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(latency, "_now_ns", clock)
    stats = measure_step_latency(
        lambda c: clock.advance_ms(c), [1.0, 12.0], warmup=0, n_timed=10, budget_ms=10.0
    )
    assert stats.over_budget_fraction == pytest.approx(0.5)
    assert stats.median_ms == pytest.approx(6.5)


def test_threads_set_during_and_restored_after():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    seen = []
    stats = measure_step_latency(lambda c: seen.append(torch.get_num_threads()), [0], warmup=1,
                                 threads=target)
    assert seen == [target, target]
    assert stats.threads == target
    assert torch.get_num_threads() == before


def test_threads_restored_when_step_raises():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2

    def bad(chunk):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        measure_step_latency(bad, [0], threads=target)
    assert torch.get_num_threads() == before


def test_threads_none_leaves_setting_and_records_it():
    before = torch.get_num_threads()
    stats = measure_step_latency(lambda c: None, [0], warmup=0, threads=None)
    assert stats.threads == before
    assert torch.get_num_threads() == before


def test_runs_under_inference_mode():
    modes = []
    measure_step_latency(lambda c: modes.append(torch.is_inference_mode_enabled()), [0], warmup=1)
    assert modes == [True, True]
    assert not torch.is_inference_mode_enabled()


def test_to_dict_and_validation():
    stats = measure_step_latency(lambda c: None, [0, 1], warmup=0, device="cpu")
    d = stats.to_dict()
    assert isinstance(stats, LatencyStats)
    assert set(d) == {
        "device", "threads", "n_chunks", "warmup", "chunk_ms", "budget_ms", "median_ms",
        "mean_ms", "p90_ms", "p99_ms", "max_ms", "over_budget_fraction",
    }
    assert d["device"] == "cpu"
    with pytest.raises(ValueError):
        measure_step_latency(lambda c: None, [])
    with pytest.raises(ValueError):
        measure_step_latency(lambda c: None, [0], n_timed=0)
    with pytest.raises(ValueError):
        measure_step_latency(lambda c: None, [0], warmup=-1)


@pytest.mark.skipif(cuda_available(), reason="checks the error raised without CUDA")
def test_cuda_requested_without_cuda():
    assert cuda_available() is False
    with pytest.raises(ValueError, match="CUDA"):
        measure_step_latency(lambda c: None, [0], device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs CUDA")
def test_cuda_latency_synchronises():
    x = torch.randn(512, 512, device="cuda")
    stats = measure_step_latency(lambda c: x @ x, range(5), warmup=3, device="cuda")
    assert stats.device == "cuda" and stats.median_ms > 0


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.unit_emb = torch.nn.Embedding(100, 8)  # 800
        self.session_emb = torch.nn.Embedding(4, 8)  # 32
        self.linear = torch.nn.Linear(8, 3)  # 27
        self.tied = self.linear  # shared: must not be counted twice


def test_count_parameters_module_and_exclude():
    net = Net()
    assert count_parameters(net) == 800 + 32 + 27
    assert count_parameters(net, exclude=("unit_emb", "session_emb")) == 27
    assert count_parameters(net, exclude="unit_emb") == 32 + 27


def test_count_parameters_custom_and_errors():
    class Baseline:
        def n_parameters(self):
            return 123

    assert count_parameters(Baseline()) == 123
    with pytest.raises(TypeError):
        count_parameters(object())
