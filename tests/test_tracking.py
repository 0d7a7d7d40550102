"""mlflow tracking of suite runs: a run folder's records read back through the mlflow client,
records made before tracking was on logged later, and an unusable store refused before any run."""

import json
import shutil

import pytest

pytest.importorskip("mlflow", reason="mlflow is not installed (pip install -e '.[tracking]')")

from mlflow.tracking import MlflowClient  # noqa: E402

from bench.cli import main  # noqa: E402
from bench.results.records import load_records, records_dir  # noqa: E402
from bench.suite.schedule import run_suite  # noqa: E402
from bench.tracking import TrackingError, default_uri  # noqa: E402
from tests.conftest import TINY_SUITE, write_suite  # noqa: E402


@pytest.fixture
def suite_file(tmp_path, tiny_folder):
    return write_suite(tmp_path, tiny_folder, TINY_SUITE.replace("\nname: tiny\n", "\nname: tracked\n"))


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """An empty local store with mlflow's tables made: a fresh SQLite store runs its schema
    migrations first (seconds on 2 cores). The first test below starts from no store at all; the
    others copy this one into their run folder, where bench finds it as a user's earlier store."""
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def _with_store(out, empty_store):
    out.mkdir(parents=True)
    shutil.copyfile(empty_store, out / "mlflow.db")
    return out


def _runs(out, experiment="tracked"):
    client = MlflowClient(default_uri(out))
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=100)
    return client, {r.data.tags["bench.kind"] + ":" + r.data.tags.get("bench.label", ""): r for r in runs}


def test_runs_read_back_with_params_curves_metrics_provenance_and_record(tmp_path, suite_file):
    out = tmp_path / "run"
    # the wiener record exists before tracking is turned on: the tracked rerun logs it from its record
    run_suite(suite_file, out=out, progress=False, compare=False, only_models=["wiener"], log=lambda s: None)
    logs = []
    run_suite(suite_file, out=out, progress=False, compare=False, tracking=True, log=logs.append)
    assert any("1 logged from earlier records" in line for line in logs)
    assert (out / "mlflow.db").is_file() and (out / "mlflow-artifacts").is_dir()

    client, runs = _runs(out)
    assert set(runs) == {"run:wiener", "run:gru", "report:"}
    records = {r.label: r for r in load_records(out)}
    gru, rec = runs["run:gru"], records["gru"]
    assert gru.info.status == "FINISHED" and gru.info.run_name == "gru tiny seed 0"
    assert gru.data.params["model_params.hidden"] == "16" and gru.data.params["train.epochs"] == "2"
    assert gru.data.tags["bench.record"] == rec.file_name and gru.data.tags["bench.key"] == rec.key
    commit = rec.provenance["git"]["commit"]  # None outside a git checkout
    assert gru.data.tags["provenance.git.commit"] == (commit if isinstance(commit, str) else json.dumps(commit))
    assert gru.data.tags["provenance.packages.torch"] == rec.provenance["packages"]["torch"]
    # final metrics and latency are the record's
    assert gru.data.metrics["test/r2"] == pytest.approx(rec.summary.mean)
    assert gru.data.metrics["test/tiny_1/r2"] == pytest.approx(rec.sessions[1].metrics["r2"])
    assert gru.data.metrics["latency/cpu/median_ms"] == pytest.approx(rec.latency["cpu"]["median_ms"])
    assert gru.data.metrics["n_parameters"] == rec.n_parameters
    # one curve per session, one point per epoch, the loop's validation losses
    for session in rec.sessions:
        history = client.get_metric_history(gru.info.run_id, f"valid_loss/{session.recording_id}")
        assert [m.step for m in history] == list(range(session.fit["epochs_run"]))
        assert min(m.value for m in history) == pytest.approx(session.fit["best_valid_loss"])
        assert len(client.get_metric_history(gru.info.run_id, f"train_loss/{session.recording_id}")) == len(history)
    # the record as an artifact, byte for byte
    local = client.download_artifacts(gru.info.run_id, f"record/{rec.file_name}", str(tmp_path / "dl"))
    assert json.loads(open(local).read()) == json.loads((records_dir(out) / rec.file_name).read_text())
    # the wiener run was logged from its record alone: metrics, no curves, and it says so
    wiener = runs["run:wiener"]
    assert wiener.data.metrics["test/r2"] == pytest.approx(records["wiener"].summary.mean)
    assert not any(k.startswith("valid_loss") for k in wiener.data.metrics)
    assert wiener.data.tags["bench.curves"].startswith("none")
    report = [a.path for a in client.list_artifacts(runs["report:"].info.run_id, "report")]
    assert "report/table.md" in report and "report/metric_by_dataset.png" in report

    # a rerun logs nothing twice
    run_suite(suite_file, out=out, progress=False, compare=False, tracking=True, log=lambda s: None)
    assert len(_runs(out)[1]) == 3


def test_unreachable_uri_is_refused_before_any_run(tmp_path, suite_file, capsys):
    out = tmp_path / "run"
    with pytest.raises(TrackingError, match=r"Tracking URI 'http://127.0.0.1:9' cannot be used: no server answers"):
        run_suite(suite_file, out=out, progress=False, tracking="http://127.0.0.1:9", log=lambda s: None)
    assert not records_dir(out).exists()
    code = main(["run", str(suite_file), "--out", str(out), "--no-progress", "--track", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "Nothing was run" in err and "Traceback" not in err
    assert not records_dir(out).exists()


def test_store_failing_mid_suite_keeps_records_and_next_run_logs_them(tmp_path, suite_file, monkeypatch, empty_store):
    from mlflow.tracking import MlflowClient as Client

    out = _with_store(tmp_path / "run", empty_store)
    real = Client.log_batch
    monkeypatch.setattr(Client, "log_batch", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("store went away")))
    logs = []
    run_suite(suite_file, out=out, progress=False, compare=False, tracking=True, log=logs.append)
    assert len(load_records(out)) == 2  # every run recorded locally
    assert any("tracking stopped" in line and "store went away" in line for line in logs)
    client, runs = _runs(out)
    assert all(r.info.status == "FAILED" for k, r in runs.items() if k.startswith("run:"))  # never half a FINISHED run
    monkeypatch.setattr(Client, "log_batch", real)
    run_suite(suite_file, out=out, progress=False, compare=False, tracking=True, log=lambda s: None)
    client, runs = _runs(out)
    finished = [r for r in client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
                if r.data.tags["bench.kind"] == "run" and r.info.status == "FINISHED"]
    assert sorted(r.data.tags["bench.label"] for r in finished) == ["gru", "wiener"]


def test_suite_field_turns_tracking_on_and_the_flag_off(tmp_path, suite_file, empty_store):
    suite_file.write_text(suite_file.read_text() + "tracking: {experiment: my-exp}\n")
    out = _with_store(tmp_path / "run", empty_store)
    run_suite(suite_file, out=out, progress=False, compare=False, only_models=["wiener"], log=lambda s: None)
    assert _runs(out, "my-exp")[1].keys() == {"run:wiener", "report:"}
    out2 = tmp_path / "run2"
    assert main(["run", str(suite_file), "--out", str(out2), "--no-progress", "--models", "wiener", "--no-track"]) == 0
    assert not (out2 / "mlflow.db").exists()


def test_missing_mlflow_is_a_clear_error(tmp_path, suite_file, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(TrackingError, match=r"pip install -e \"\.\[tracking\]\""):
        run_suite(suite_file, out=tmp_path / "run", progress=False, tracking=True, log=lambda s: None)
    assert not records_dir(tmp_path / "run").exists()
