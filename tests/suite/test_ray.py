"""The Ray executor: a suite's runs as Ray tasks on a local runtime with 2 workers give the records
of the local executor (same keys, same metrics), resume, and bad addresses are refused first."""

import shutil

import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")

try:
    import mlflow.tracking
except ImportError:  # tracking is checked here only where its extra is installed
    mlflow = None

from bench.cli import main  # noqa: E402
from bench.errors import BenchError  # noqa: E402
from bench.results.records import load_records, records_dir  # noqa: E402
from bench.suite.schedule import run_suite  # noqa: E402
from tests.conftest import TINY_SUITE, write_suite  # noqa: E402

SUITE = TINY_SUITE.replace("  - {name: gru", "  - {name: mlp, params: {hidden: 16}}\n  - {name: gru")


@pytest.fixture
def suite_file(tmp_path, tiny_folder):
    return write_suite(tmp_path, tiny_folder, SUITE)


def _comparable(record) -> dict:
    """What must not depend on the executor (timings and provenance do)."""
    sessions = [{"recording_id": s.recording_id, "metrics": s.metrics, "n_parameters": s.n_parameters,
                 "fit": {k: v for k, v in s.fit.items() if k != "train_seconds"}} for s in record.sessions]
    return {"key": record.key, "identity": record.identity, "config": record.config, "summary": record.summary,
            "sessions": sessions, "n_parameters": record.n_parameters,
            "streaming_max_abs_diff": record.streaming_max_abs_diff}


def test_ray_with_two_workers_gives_the_local_records_and_resumes(tmp_path, suite_file):
    local = run_suite(suite_file, out=tmp_path / "local", progress=False, compare=False, log=lambda s: None)
    # resume: the ray folder already holds the wiener record; only the two missing runs become Ray tasks
    done = next(records_dir(local).glob("wiener__*.json"))
    kept = records_dir(tmp_path / "ray") / done.name
    kept.parent.mkdir(parents=True)
    shutil.copy2(done, kept)
    before = kept.stat().st_mtime_ns
    logs = []
    try:
        on_ray = run_suite(suite_file, out=tmp_path / "ray", progress=False, compare=False, jobs=2,
                           executor="ray", tracking=mlflow is not None, log=logs.append)
    except BenchError as exc:
        if "(local runtime)" in str(exc):
            pytest.skip(f"a local Ray runtime cannot start on this machine: {exc}")
        raise
    if mlflow is not None:  # the workers' per-epoch curves reach the tracking store through the driver
        from bench.tracking import default_uri

        client = mlflow.tracking.MlflowClient(default_uri(on_ray))
        runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
        gru = next(r for r in runs if r.data.tags.get("bench.label") == "gru")
        assert [m.step for m in client.get_metric_history(gru.info.run_id, "valid_loss/tiny_0")] == [0, 1]
    assert "3 runs, 1 already recorded, 2 to run (2 in parallel)" in logs[0]
    assert any("local Ray runtime with 2 CPU(s)" in line for line in logs)
    assert kept.stat().st_mtime_ns == before and not list(records_dir(on_ray).glob(".tmp-*"))
    by_name = lambda folder: {r.file_name: r for r in load_records(folder)}  # noqa: E731
    a, b = by_name(local), by_name(on_ray)
    assert sorted(a) == sorted(b) and len(a) == 3
    for name in a:
        assert _comparable(a[name]) == _comparable(b[name]), name
    assert sorted(r.label for r in b.values() if r.provenance.get("parallel_jobs") == 2) == ["gru", "mlp"]
    # the same tables (latency cells aside)
    ta, tb = pd.read_csv(local / "table.csv"), pd.read_csv(on_ray / "table.csv")
    assert list(ta.columns) == list(tb.columns) and ta.iloc[:, 0].tolist() == tb.iloc[:, 0].tolist()
    assert ta.filter(like="r2").equals(tb.filter(like="r2"))


@pytest.mark.parametrize("address, reason", [("127.0.0.1:9", "nothing answers at 127.0.0.1:9"),
                                             ("ray://127.0.0.1:9", "nothing answers at 127.0.0.1:9"),
                                             ("not-an-address", "not of the form host:port")])
def test_unusable_address_is_refused_before_any_run(tmp_path, suite_file, capsys, address, reason):
    out = tmp_path / "ray"
    code = main(["run", str(suite_file), "--out", str(out), "--no-progress", "--executor", "ray", "--address", address])
    err = capsys.readouterr().err
    assert code == 2 and f"Ray address '{address}' cannot be used" in err and reason in err
    assert "Nothing was run" in err and "Traceback" not in err
    assert not records_dir(out).exists() and not ray.is_initialized()


def test_suite_field_executor_is_validated(tmp_path, suite_file):
    suite_file.write_text(suite_file.read_text() + "executor: {name: dask}\n")
    with pytest.raises(BenchError, match=r"field 'executor.name': Input should be 'local' or 'ray' \(got 'dask'\)"):
        run_suite(suite_file, out=tmp_path / "x", progress=False, log=lambda s: None)


def test_address_without_ray_and_ray_missing_are_clear_errors(tmp_path, suite_file, monkeypatch):
    with pytest.raises(BenchError, match=r"--address 127.0.0.1:6379 names a Ray cluster, but the executor is local"):
        run_suite(suite_file, out=tmp_path / "x", progress=False, address="127.0.0.1:6379", log=lambda s: None)
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(BenchError, match=r"executor 'ray' needs Ray, which is not installed; .*\.\[ray\]"):
        run_suite(suite_file, out=tmp_path / "x", progress=False, executor="ray", log=lambda s: None)
    assert not records_dir(tmp_path / "x").exists()
