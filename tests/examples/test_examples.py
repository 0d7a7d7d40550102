"""The examples in examples/ work as a user installs them: registered from their pyproject's entry
points, conformant, and run end to end by a suite."""

import json

import yaml

from bench import registry
from bench.suite.schedule import run_suite
from bench.testing import check_decoder

TINY_DATA = {"name": "tiny", "source": "simulator",
             "params": {"preset": "c_co_2016", "n_sessions": 1, "n_trials": 20, "n_neurons": 12}}


def run_tiny_suite(tmp_path, task: str, models: list[dict]) -> list[dict]:
    suite = {"name": f"example_{task}", "task": task, "chunk_ms": 50, "seeds": [0],
             "train": {"epochs": 1, "batch_size": 16}, "latency": {"threads": 1, "warmup": 2, "n_chunks": 10},
             "datasets": [TINY_DATA], "models": models}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = run_suite(path, out=tmp_path / "runs", cache_dir=tmp_path / "cache", progress=False, compare=False,
                    log=lambda line: None)
    return [json.loads(p.read_text()) for p in sorted(out.rglob("records/*.json"))]


def test_plugin_decoder_registers_conforms_and_runs(install_example, tmp_path):
    install_example("plugin_decoder")
    assert "ridge" in registry.models.names()
    check_decoder("ridge", {"n_lags": 2})
    records = run_tiny_suite(tmp_path, "reaching_velocity", [{"name": "ridge", "params": {"n_lags": 2}}])
    assert [r["model"] for r in records] == ["ridge"]
    assert records[0]["summary"]["mean"] > 0.0  # a linear decoder learns velocity on the simulator
    # a plugin's records name the package that provides it (its release is part of the run's identity)
    assert records[0]["identity"]["model"]["package"] == "ridge_decoder"
    assert "package" not in records[0]["identity"]["task"]  # the built-in task


def test_position_task_registers_and_runs(install_example, tmp_path):
    install_example("position_task")
    install_example("plugin_decoder")
    assert registry.tasks.get("reaching_position").primary_metric == "r2"
    records = run_tiny_suite(tmp_path, "reaching_position",
                             [{"name": "ridge", "params": {"n_lags": 2}}, {"name": "mlp", "params": {"hidden": 16}}])
    assert sorted(r["model"] for r in records) == ["mlp", "ridge"]
    assert all(r["task"] == "reaching_position" for r in records)
    mlp = next(r for r in records if r["model"] == "mlp")
    assert "package" not in mlp["identity"]["model"] and "package" in mlp["identity"]["task"]
