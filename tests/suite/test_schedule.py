"""End-to-end runs on tiny data: records, resume, stale records, and no partial record on failure."""

import json
import textwrap

import pytest

from bench.errors import DataError
from bench.results.records import load_records
from bench.protocols import train_eval
from bench.suite import execute, plan, schedule
from bench.suite.schedule import run_suite


def test_run_writes_records_tables_and_resumes(tmp_path, suite_file):
    logs = []
    out = run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=logs.append)
    records = load_records(out)
    assert sorted(r.label for r in records) == ["gru", "wiener"]
    rec = next(r for r in records if r.label == "wiener")
    assert len(rec.sessions) == 2 and rec.summary.n == 2
    assert rec.streaming_max_abs_diff < 1e-5
    assert rec.latency["cpu"]["threads"] == 1 and rec.latency["cpu"]["n_chunks"] == 20
    assert rec.provenance["packages"]["torch"].startswith("2.13.0")
    assert {"commit", "dirty"} <= set(rec.provenance["git"])
    table = (out / "table.md").read_text()
    assert "wiener" in table and "tiny (r2)" in table and "±" in table
    assert (out / "table.csv").exists() and (out / "metric_by_dataset.png").exists()

    # a killed run leaves a missing record: only that one is redone
    gru_path = next(p for p in (out / "records").glob("gru__*.json"))
    gru_path.unlink()
    wiener_path = next(p for p in (out / "records").glob("wiener__*.json"))
    before = wiener_path.stat().st_mtime_ns
    logs.clear()
    run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=logs.append)
    assert "2 runs, 1 already recorded, 1 to run" in logs[0]
    assert wiener_path.stat().st_mtime_ns == before
    assert gru_path.exists()


def test_changed_config_is_a_new_record(tmp_path, suite_file):
    run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=lambda *_: None, only_models=["wiener"])
    suite_file.write_text(suite_file.read_text().replace("{name: wiener}", "{name: wiener, params: {n_lags: 3}}"))
    logs = []
    run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=logs.append, only_models=["wiener"])
    assert "1 runs, 0 already recorded, 1 to run" in logs[0]
    assert any(line.startswith("stale record wiener__tiny__seed0__") and "model.params.n_lags: (default) -> 3" in line
               for line in logs), logs
    assert any(line.startswith("1 record(s) in") and "match no run of the suite" in line for line in logs)
    assert len(list((tmp_path / "res" / "tiny" / "records").glob("wiener__*.json"))) == 2
    table = (tmp_path / "res" / "tiny" / "table.md").read_text()
    assert sum(line.startswith("| wiener") for line in table.splitlines()) == 1  # the stale one left out


def test_failure_leaves_no_partial_record(tmp_path, suite_file, monkeypatch):
    real = train_eval.execute_run

    def explode(run, *args, **kwargs):
        if run.model.name == "gru":
            raise RuntimeError("killed")
        return real(run, *args, **kwargs)

    monkeypatch.setattr(train_eval, "execute_run", explode)
    with pytest.raises(RuntimeError):
        run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=lambda *_: None)
    files = sorted(p.name for p in (tmp_path / "res" / "tiny" / "records").iterdir())
    assert len(files) == 1 and files[0].startswith("wiener__")
    json.loads((tmp_path / "res" / "tiny" / "records" / files[0]).read_text())


def test_missing_data_folder(tmp_path, suite_file):
    suite_file.write_text(suite_file.read_text().replace(str(tmp_path / "tiny"), str(tmp_path / "nowhere")))
    with pytest.raises(DataError, match="nowhere.*does not exist"):
        run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=lambda *_: None)
    assert not (tmp_path / "res" / "tiny" / "records").exists()


def test_corrupt_file_in_dataset(tmp_path, suite_file, tiny_folder):
    bad = tiny_folder / "tiny_1.h5"
    bad.write_bytes(bad.read_bytes()[:1000])
    with pytest.raises(DataError, match="tiny_1.h5.*corrupt"):
        run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=lambda *_: None)
    assert not list((tmp_path / "res").rglob("*.json"))


def test_parallel_jobs_write_the_same_records(tmp_path, suite_file):
    logs = []
    out = run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=logs.append, jobs=2)
    assert "(2 in parallel)" in logs[0]
    records = load_records(out)
    assert sorted(r.label for r in records) == ["gru", "wiener"]
    assert all(r.provenance["parallel_jobs"] == 2 for r in records)
    assert (out / "table.md").exists()


def _no_cuda(monkeypatch, cuda: bool = False):
    for module in (plan, schedule, execute, train_eval):
        monkeypatch.setattr(module, "cuda_available", lambda: cuda)


def _gpu_suite(suite_file):
    suite_file.write_text(suite_file.read_text().replace(
        "{name: gru, params: {hidden: 16, embed_dim: 8}}", "{name: gru, params: {hidden: 16, embed_dim: 8}, needs_gpu: true}"))
    return suite_file


def test_needs_gpu_without_cuda_records_untrained(tmp_path, suite_file, monkeypatch):
    _no_cuda(monkeypatch)
    logs = []
    out = run_suite(_gpu_suite(suite_file), out=tmp_path / "res" / "tiny", progress=False, log=logs.append)
    assert any("gru (needs_gpu) will be recorded untrained" in line for line in logs)
    rec = next(r for r in load_records(out) if r.label == "gru")
    assert rec.trained is False and rec.summary is None and rec.sessions == []
    assert rec.config["needs_gpu"] is True and rec.identity["run"]["needs_gpu"] is True and rec.train_seconds == 0.0
    assert rec.n_parameters > 0 and rec.latency["cpu"]["n_chunks"] == 20
    assert rec.streaming_max_abs_diff < 1e-4  # the untrained model still streams like predict
    wiener = next(r for r in load_records(out) if r.label == "wiener")
    assert wiener.trained is True and wiener.summary.n == 2
    row = next(line for line in (out / "table.md").read_text().splitlines() if line.startswith("| gru"))
    assert "needs GPU" in row and "±" not in row
    summary = (out / "summary.csv").read_text()
    assert "gru,tiny,r2,,," in summary  # no metric, no SD: never a made-up number
    assert (out / "accuracy_vs_latency.png").exists()


def test_untrained_record_is_redone_where_cuda_is(tmp_path, suite_file, monkeypatch):
    _no_cuda(monkeypatch)
    _gpu_suite(suite_file)
    run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=lambda *_: None)
    logs = []
    run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=logs.append)
    assert "2 runs, 2 already recorded, 0 to run" in logs[0]  # no GPU: the untrained record stands

    _no_cuda(monkeypatch, cuda=True)
    planned = []

    def stop(run, *args, **kwargs):  # there is no GPU to train on: stop once the run is planned
        planned.append(run.name)
        raise RuntimeError("planned")

    monkeypatch.setattr(train_eval, "execute_run", stop)
    with pytest.raises(RuntimeError, match="planned"):
        run_suite(suite_file, out=tmp_path / "res" / "tiny", progress=False, log=logs.append)
    assert "2 runs, 1 already recorded, 1 to run" in logs[-1] and planned == [next(
        p.name for p in (tmp_path / "res" / "tiny" / "records").glob("gru__*.json"))]


def test_needs_gpu_does_not_change_other_hashes(tmp_path, suite_file):
    from bench.suite.loader import load_suite

    before = {r.model.name: r.key for r in plan.plan_runs(load_suite(suite_file))}
    after = {r.model.name: r.key for r in plan.plan_runs(load_suite(_gpu_suite(suite_file)))}
    assert before["wiener"] == after["wiener"] and before["gru"] != after["gru"]


def test_needs_gpu_trains_on_cuda_whatever_the_suite_device(tmp_path, suite_file, monkeypatch):
    from bench import registry
    from bench.suite.loader import load_suite

    _no_cuda(monkeypatch, cuda=True)
    suite = load_suite(_gpu_suite(suite_file))
    assert suite.spec.device == "cpu"
    devices = []

    class Stop(Exception):
        pass

    real = registry.models.get("gru")

    class Capture(real):
        def __init__(self, params, seed=0, device="cpu"):
            devices.append(device)
            raise Stop

    gru = next(r for r in plan.plan_runs(suite) if r.model.name == "gru")
    monkeypatch.setattr(registry.models, "get", lambda name: Capture)
    with pytest.raises(Stop):
        train_eval.execute_run(gru, suite, execute.DatasetCache(suite, None, False), "cpu", progress=False)
    assert devices == ["cuda"]


MIXED = """
name: mixed
task: reaching_velocity
train: {epochs: 1, batch_size: 16}
latency: {n_chunks: 10, warmup: 1}
datasets:
  - {name: spikes, source: hdf5, params: {path: SPIKES}}
  - {name: power, source: hdf5, params: {path: POWER}, chunk_ms: 20}
models:
  - name: gru
    params: {hidden: 16, embed_dim: 8}
    dataset_params: {power: {bin_ms: 20, input_streams: [spike_band_power]}}
"""


def test_datasets_of_different_bin_widths_share_one_suite(tmp_path, tiny_folder):
    from bench.data.storage import save_recording
    from bench.errors import SuiteError
    from bench.suite.loader import load_suite
    from tests.data.feature_recordings import power_recording

    save_recording(power_recording(n_trials=12, n_channels=8, recording_id="p0"), tmp_path / "power" / "p0.h5")
    suite_file = tmp_path / "mixed.yaml"
    suite_file.write_text(textwrap.dedent(MIXED).replace("SPIKES", str(tiny_folder)).replace("POWER", str(tmp_path / "power")))
    out = run_suite(suite_file, out=tmp_path / "res", progress=False, log=lambda *_: None)
    records = {r.dataset: r for r in load_records(out)}
    assert records["spikes"].identity["run"]["chunk_ms"] == 50.0 and "params" in records["spikes"].identity["model"]
    assert records["power"].identity["run"]["chunk_ms"] == 20.0
    assert records["power"].identity["model"]["params"]["input_streams"] == ["spike_band_power"]
    assert records["power"].latency["cpu"]["chunk_ms"] == 20.0 and records["power"].streaming_max_abs_diff < 1e-4

    suite_file.write_text(suite_file.read_text().replace("bin_ms: 20, ", ""))
    with pytest.raises(SuiteError, match=r"dataset_params.power' \(dataset 'power', chunk 20 ms\).*bin_ms=50"):
        load_suite(suite_file)
    suite_file.write_text(suite_file.read_text().replace("{power: {", "{pwr: {"))
    with pytest.raises(SuiteError, match="dataset_params names no dataset of the suite: pwr"):
        load_suite(suite_file)
