"""The ``needs_gpu`` path on real CUDA hardware: the transformers train there and record CUDA latency.

Skipped without CUDA (every CPU machine). On a GPU machine, ``pytest -m gpu`` checks what the
mocked tests in test_runner.py cannot: that POYO and NDT-2 train, predict and stream on the device
(no tensor left on the CPU), and that the suite's untrained records are replaced by trained ones.
"""

import textwrap

import pytest

from bench.latency import cuda_available
from bench.results.records import load_records
from bench.suite.schedule import run_suite

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cuda_available(), reason="needs CUDA")]

SUITE = """
name: tiny_gpu
task: reaching_velocity
seeds: [0]
device: cpu
train: {epochs: 2, batch_size: 16}
latency: {n_chunks: 20, warmup: 5}
datasets:
  - {name: tiny, source: hdf5, params: {path: FOLDER}}
models:
  - {name: poyo-ss, needs_gpu: true}
  - {name: ndt2, needs_gpu: true, params: {layers: 2}}
  - {name: possm-gru, needs_gpu: true}
"""


def test_needs_gpu_models_train_stream_and_time_on_cuda(tmp_path, tiny_folder):
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(SUITE).replace("FOLDER", str(tiny_folder)))
    out = run_suite(suite, out=tmp_path / "res", progress=False, log=lambda *_: None)
    records = {r.model: r for r in load_records(out)}
    assert set(records) == {"poyo-ss", "ndt2", "possm-gru"}
    for name, rec in records.items():
        assert rec.trained is True and rec.summary is not None, name
        assert rec.provenance["device"] == "cuda" and rec.provenance["gpu"], name
        assert {"cpu", "cuda"} <= set(rec.latency), name
        assert rec.latency["cuda"]["median_ms"] > 0, name
        diff = rec.streaming_max_abs_diff
        assert diff is None or diff < 1e-3, (name, diff)  # TF32 matmuls allow small differences
    assert "needs GPU" not in (out / "table.md").read_text()
