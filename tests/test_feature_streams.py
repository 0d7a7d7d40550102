"""End to end on feature streams: suites on threshold-crossing and spike-band-power datasets train,
score and stream like spike datasets, and a model whose inputs a dataset lacks is refused first."""

import math
import textwrap

import pytest

from bench.data.storage import save_recording
from bench.errors import SuiteError
from bench.results.records import load_records
from bench.suite.schedule import run_suite
from tests.data.feature_recordings import crossings_recording, power_recording

SUITE = """
name: NAME
task: reaching_velocity
chunk_ms: CHUNK
seeds: [0]
train: {epochs: 2, batch_size: 16}
latency: {n_chunks: 10, warmup: 1}
datasets:
  - {name: DATASET, source: hdf5, params: {path: FOLDER}}
models:
MODELS
"""
SMALL_POSSM = "{dim: 16, dim_head: 8, hidden: 16}"


def write_suite(tmp_path, name: str, make, chunk_ms: int, models: list[str]):
    folder = tmp_path / name
    for i in range(2):
        save_recording(make(n_trials=12, seed=i, recording_id=f"{name}_{i}"), folder / f"{name}_{i}.h5")
    text = textwrap.dedent(SUITE)
    for key, value in (("NAME", name), ("CHUNK", str(chunk_ms)), ("DATASET", name), ("FOLDER", str(folder)),
                       ("MODELS", "\n".join(f"  - {m}" for m in models))):
        text = text.replace(key, value)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def run(path, tmp_path):
    out = run_suite(path, out=tmp_path / "runs" / path.stem, progress=False, compare=False, log=lambda m: None)
    return {r.label: r for r in load_records(out)}


def assert_trained(record):
    assert record.trained and len(record.sessions) == 2
    assert all(math.isfinite(s.metrics["r2"]) for s in record.sessions)
    assert record.streaming_max_abs_diff is not None and record.streaming_max_abs_diff < 1e-4
    assert record.latency["cpu"]["n_chunks"] == 10


def test_suite_on_threshold_crossings(tmp_path):
    """GRU reads the 192-channel crossings as counts; POSSM reads them as events (one per crossing)."""
    path = write_suite(tmp_path, "crossings", crossings_recording, 50, [
        "{name: gru, params: {input_streams: [threshold_crossings], hidden: 16, embed_dim: 8}}",
        f"{{name: possm-gru, params: {SMALL_POSSM}}}",
    ])
    records = run(path, tmp_path)
    assert sorted(records) == ["gru", "possm-gru"]
    for record in records.values():
        assert_trained(record)


def test_suite_on_spike_band_power(tmp_path):
    """GRU reads a 256-channel power stream at 20 ms, averaged into 20 ms bins of a 100 ms chunk."""
    path = write_suite(tmp_path, "power", power_recording, 100, [
        "{name: gru, params: {input_streams: [spike_band_power], bin_ms: 20, hidden: 16, embed_dim: 8}}",
    ])
    assert_trained(run(path, tmp_path)["gru"])


def test_model_without_its_inputs_is_refused_before_training(tmp_path):
    path = write_suite(tmp_path, "power", power_recording, 100, [
        "{name: gru, params: {input_streams: [spike_band_power], bin_ms: 20, hidden: 16, embed_dim: 8}}",
        f"{{name: possm-gru, params: {SMALL_POSSM}}}",
    ])
    with pytest.raises(SuiteError, match=r"model 'possm-gru' \(models\[1\]\) cannot run on dataset 'power'.*"
                                          r"reads spikes \(as spike_events\).*no 'spikes'.*spike_band_power"):
        run(path, tmp_path)
    assert not (tmp_path / "runs" / "power" / "records").exists() or not any((tmp_path / "runs" / "power" / "records").iterdir())


def test_binned_model_reading_a_stream_the_dataset_lacks_is_refused(tmp_path):
    path = write_suite(tmp_path, "crossings", crossings_recording, 50, [
        "{name: wiener, params: {input_streams: [spike_band_power]}}",
    ])
    with pytest.raises(SuiteError, match=r"'wiener'.*dataset 'crossings'.*no 'spike_band_power'.*threshold_crossings"):
        run(path, tmp_path)


IMPORTED = """
name: imported_features
task: reaching_velocity
chunk_ms: 20
seeds: [0]
train: {epochs: 1, batch_size: 8}
latency: {n_chunks: 10, warmup: 1}
datasets:
  - {name: tx_10ms, source: import, params: {spec: tx.yaml}}
  - {name: tx_sbp_20ms, source: import, params: {spec: sbp.yaml}}
models:
  - name: gru
    params: {hidden: 16, embed_dim: 8, bin_ms: 20}
    dataset_params: {tx_sbp_20ms: {input_streams: [spike_band_power]}}
  - name: possm-gru
    params: SMALL
    dataset_params: {tx_sbp_20ms: {feature_streams: [spike_band_power]}}
"""


def test_imported_feature_streams_run_through_a_suite(tmp_path):
    """The acceptance path end to end: arrays in the published shapes (a 192-channel crossing stream at
    10 ms; 256 crossings + 256 spike-band-power channels at 20 ms, as speech data carry) imported by
    a suite's `import` source, validated, trained, scored and streamed by the GRU and POSSM-GRU."""
    import numpy as np

    rng = np.random.default_rng(0)
    n10 = 40 * 100  # 40 one-second trials at 10 ms
    vel = np.cumsum(rng.normal(size=(n10, 2)), axis=0) * 0.1
    rate = np.exp(0.3 * (vel @ rng.normal(size=(2, 192))).clip(-3, 3)) * 0.2
    np.savez(tmp_path / "tx.npz", tx=rng.poisson(rate), behaviour=vel, trial_id=np.repeat(np.arange(40), 100))
    vel20, rate20 = vel[::2], np.exp(0.3 * (vel[::2] @ rng.normal(size=(2, 256))).clip(-3, 3))
    np.savez(tmp_path / "sbp.npz", tx=rng.poisson(0.3 * rate20), sbp=rate20 + rng.gamma(2.0, 0.2, rate20.shape),
             behaviour=vel20, trial_id=np.repeat(np.arange(40), 50))
    (tmp_path / "tx.yaml").write_text("path: tx.npz\nbin_size_s: 0.01\nfeatures: {threshold_crossings: {key: tx}}\n")
    (tmp_path / "sbp.yaml").write_text(
        "path: sbp.npz\nbin_size_s: 0.02\nfeatures: {threshold_crossings: {key: tx},"
        " spike_band_power: {key: sbp, kind: continuous}}\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(IMPORTED).replace("SMALL", SMALL_POSSM))
    out = run_suite(suite, out=tmp_path / "run", cache_dir=tmp_path / "cache", progress=False, log=lambda *_: None)
    records = {(r.label, r.dataset): r for r in load_records(out)}
    assert set(records) == {(m, d) for m in ("gru", "possm-gru") for d in ("tx_10ms", "tx_sbp_20ms")}
    for key, rec in records.items():
        assert math.isfinite(rec.summary.mean), key
        assert rec.streaming_max_abs_diff is not None and rec.streaming_max_abs_diff < 1e-4, key
        assert rec.n_parameters > 0 and rec.latency["cpu"]["chunk_ms"] == 20.0, key
    assert records[("possm-gru", "tx_sbp_20ms")].identity["model"]["params"]["feature_streams"] == ["spike_band_power"]
    assert records[("possm-gru", "tx_10ms")].sessions[0].n_units == 192  # one event per crossing, 192 channels
