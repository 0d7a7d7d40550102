"""`bench tune`: search spaces validated when the suite loads, a persistent study pruned on the
validation loss (never reading the test split), the best configuration as a runnable suite, and
a study resumed after its process was killed."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

optuna = pytest.importorskip("optuna", reason="optuna is not installed (pip install -e '.[tune]')")

from bench.cli import main  # noqa: E402
from bench.errors import BenchError, SuiteError  # noqa: E402
from bench.results.records import load_records  # noqa: E402
from bench.suite.loader import load_suite  # noqa: E402
from bench.suite.schedule import run_suite  # noqa: E402
from bench.tasks.base import TaskData  # noqa: E402
from bench.tune import search_space, tune  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITE = """
name: tiny
task: reaching_velocity
seeds: [0]
train: {epochs: 3, batch_size: 16}
latency: {n_chunks: 20, warmup: 2}
datasets:
  - {name: tiny, source: hdf5, params: {path: FOLDER}}
models:
  - {name: gru, params: {hidden: 16, embed_dim: 8}}
tune:
  startup_trials: 2
  warmup_epochs: 1
  space:
    gru: SPACE
"""
SPACE = "{hidden: {int: [4, 24]}, lr: {loguniform: [1.0e-4, 3.0e-2]}}"


def write_suite(tmp_path, folder, space=SPACE) -> str:
    p = tmp_path / "suite.yaml"
    p.write_text(textwrap.dedent(SUITE).replace("FOLDER", str(folder)).replace("SPACE", space))
    return str(p)


@pytest.mark.parametrize("space, message", [
    ("{hiddn: {int: [4, 24]}}", "parameter 'hiddn': unknown parameter 'hiddn' of model 'gru'. Its parameters: "),
    ("{train.lrr: {uniform: [0.1, 0.2]}}", "unknown parameter 'train.lrr'"),
    ("{hidden: {int: [24, 4]}}", "int takes [low, high] with low < high, got [24, 4]"),
    ("{lr: {loguniform: [0, 0.1]}}", "loguniform needs low > 0"),
    ("{hidden: {normal: [4, 24]}}", "Expected one of {int: [low, high]}"),
    ("{hidden: {int: [0, 24]}}", "tune.space.gru.hidden': Input should be greater than or equal to 1"),
])
def test_bad_search_space_is_a_validation_error_naming_it(tmp_path, tiny_folder, capsys, space, message):
    path = write_suite(tmp_path, tiny_folder, space)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert message in str(info.value) and "tune.space.gru" in str(info.value)
    assert main(["validate", path]) == 2 and message in capsys.readouterr().err


def test_space_of_a_label_the_suite_lacks_and_a_model_without_space(tmp_path, tiny_folder):
    path = write_suite(tmp_path, tiny_folder).replace("suite.yaml", "suite.yaml")
    text = open(path).read().replace("    gru: ", "    lstm: ")
    open(path, "w").write(text)
    with pytest.raises(SuiteError, match="field 'tune.space.lstm': no model of the suite is labelled 'lstm'"):
        load_suite(path)
    # without a suite space, gru uses its class's declared space (training settings)
    open(path, "w").write(text.replace("  space:\n    lstm: " + SPACE + "\n", ""))
    suite = load_suite(path)
    assert {d.key for d in search_space(suite, suite.spec.models[0])} == {"train.lr", "train.weight_decay"}


def test_study_prunes_never_reads_test_and_writes_a_runnable_best_suite(tmp_path, tiny_folder, monkeypatch):
    path = write_suite(tmp_path, tiny_folder)
    calls = []  # (split, the function asking for it)
    original = TaskData.segments

    def segments(self, split):
        calls.append((split, sys._getframe(1).f_code.co_name))
        return original(self, split)

    monkeypatch.setattr(TaskData, "segments", segments)
    logs = []
    result = tune(path, "gru", trials=8, out=tmp_path / "study", log=logs.append)
    # the test split is only checked to be usable when the task prepares the data, never trained on or scored
    assert {who for split, who in calls if split == "test"} == {"check_task_data"}
    assert {split for split, who in calls if who != "check_task_data"} == {"train", "valid"}
    assert result.complete + result.pruned == 8 and result.pruned >= 1, logs
    study = optuna.load_study(study_name="tiny.gru.tiny", storage=result.storage)
    assert study.best_trial.value == pytest.approx(result.best_value)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert all(t.intermediate_values and max(t.intermediate_values) % 100_000 >= 1 for t in pruned)  # after warmup
    assert sum(line.startswith("  trial") and line.endswith(")") and ": pruned (" in line for line in logs) == result.pruned

    # the best configuration is a suite; its run is a record keyed by the tuned (non-default) values
    best = yaml.safe_load(result.best_suite.read_text())
    model = best["models"][0]
    assert model["label"] == "gru-tuned" and model["params"]["hidden"] == result.best_params["model.hidden"]
    assert model["train"]["lr"] == pytest.approx(result.best_params["train.lr"]) and "tune" not in best
    monkeypatch.setattr(TaskData, "segments", original)
    out = run_suite(result.best_suite, out=tmp_path / "tuned_run", progress=False, compare=False, log=lambda s: None)
    (record,) = load_records(out)
    assert record.identity["model"]["params"]["hidden"] == result.best_params["model.hidden"]
    assert record.identity["train"]["lr"] == pytest.approx(result.best_params["train.lr"])


def test_resume_after_kill_continues_the_same_study(tmp_path, tiny_folder):
    path = write_suite(tmp_path, tiny_folder)
    study_dir = tmp_path / "study"
    proc = subprocess.Popen([sys.executable, "-m", "bench", "tune", path, "--model", "gru", "--trials", "50",
                             "--out", str(study_dir), "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seen, deadline = [], time.time() + 240
    while sum("  trial " in line for line in seen) < 2 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
    proc.send_signal(signal.SIGKILL)  # no clean-up of any kind
    proc.wait()
    assert sum("  trial " in line for line in seen) >= 2, "".join(seen)
    storage = f"sqlite:///{study_dir / 'gru__tiny.db'}"
    before = optuna.load_study(study_name="tiny.gru.tiny", storage=storage).trials
    done_before = [t for t in before if t.state.is_finished()]
    assert 2 <= len(done_before) < 50

    logs = []
    result = tune(path, "gru", trials=len(done_before) + 3, out=study_dir, log=logs.append)
    assert f"{len(done_before)} of {len(done_before) + 3} trials done, resuming" in logs[0]
    after = optuna.load_study(study_name="tiny.gru.tiny", storage=storage).trials
    assert [t.params for t in after[:len(done_before)]] == [t.params for t in done_before]  # the same study
    assert result.complete + result.pruned == len(done_before) + 3
    assert min(t.number for t in after if t.number >= len(before)) == len(before)  # numbering continues


def test_unknown_model_and_dataset_and_untunable_model(tmp_path, tiny_folder, capsys):
    path = write_suite(tmp_path, tiny_folder)
    assert main(["tune", path, "--model", "lstm"]) == 2
    assert "--model 'lstm' is not a model of the suite; its models (labels): gru" in capsys.readouterr().err
    assert main(["tune", path, "--model", "gru", "--dataset", "other"]) == 2
    assert "--dataset 'other' is not a dataset of the suite; its datasets: tiny" in capsys.readouterr().err
    text = open(path).read().replace("models:\n", "models:\n  - {name: wiener}\n")
    open(path, "w").write(text)
    assert main(["tune", path, "--model", "wiener"]) == 2
    assert "tunes models trained by the shared training loop" in capsys.readouterr().err


def test_invalid_combinations_fail_their_trial_and_an_all_invalid_space_stops(tmp_path, tiny_folder):
    # each value is a valid bin, but a 30 ms bin does not divide the 50 ms chunk
    path = write_suite(tmp_path, tiny_folder, "{bin_ms: {choice: [25.0, 30.0]}, lr: {loguniform: [1.0e-3, 1.0e-2]}}")
    logs = []
    result = tune(path, "gru", trials=2, out=tmp_path / "study", log=logs.append)
    assert result.complete + result.pruned == 2 and result.best_params["model.bin_ms"] == 25.0
    invalid = [line for line in logs if "invalid configuration (model.bin_ms=30" in line]
    study = optuna.load_study(study_name="tiny.gru.tiny", storage=result.storage)
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(invalid) == len(failed) >= 1 and all("bin" in t.user_attrs["invalid"] for t in failed)

    path = write_suite(tmp_path, tiny_folder, "{bin_ms: {choice: [30.0, 35.0]}}")
    with pytest.raises(SuiteError, match="gave 20 invalid configurations in this run"):
        tune(path, "gru", trials=3, out=tmp_path / "study2", log=lambda s: None)


def test_a_diverging_configuration_is_pruned_with_its_reason(tmp_path, tiny_folder):
    path = write_suite(tmp_path, tiny_folder, "{lr: {loguniform: [300.0, 1000.0]}}")
    logs = []
    with pytest.raises(BenchError, match="has no complete trial"):
        tune(path, "gru", trials=2, out=tmp_path / "study", log=logs.append)
    assert sum(": pruned (diverged) (train.lr=" in line for line in logs) == 2
    study = optuna.load_study(study_name="tiny.gru.tiny", storage=f"sqlite:///{tmp_path / 'study' / 'gru__tiny.db'}")
    assert all(t.state == optuna.trial.TrialState.PRUNED and "lr" in t.user_attrs["diverged"] for t in study.trials)
