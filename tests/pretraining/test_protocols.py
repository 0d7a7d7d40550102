"""The pretrain and finetune protocols through `bench run`: a checkpoint named by its run key,
UI / FT / scratch records at several sizes, tables and figures rebuilt from the records."""

import json
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.data.storage import save_recording
from bench.results.records import load_records
from bench.cli import main
from bench.suite.schedule import run_suite
from tests.conftest import make_recording, write_suite

MODEL = "{dim: 16, dim_head: 16, hidden: 16, dropout: 0.0}"

PRETRAIN = f"""
name: pre
task: reaching_velocity
train: {{epochs: 2, batch_size: 8}}
protocol: pretrain
datasets:
  - name: pool
    source: pool
    params: {{members: [{{source: hdf5, params: {{path: A}}, sessions: [0, 1]}}]}}
models:
  - {{name: possm-gru, params: {MODEL}}}
"""

FINETUNE = f"""
name: ft
task: reaching_velocity
seeds: [0]
train: {{epochs: 2, batch_size: 8}}
protocol:
  name: finetune
  params: {{checkpoints: {{o-possm: CKPT}}, modes: [ui, ft], ui_epochs: 1, train_trials: [4, all], eval_every: 1}}
datasets:
  - {{name: heldout_session, source: hdf5, params: {{path: A}}, sessions: [2]}}
  - {{name: heldout_animal, source: hdf5, params: {{path: B}}}}
models:
  - {{name: possm-gru, label: o-possm, params: {MODEL}}}
  - {{name: possm-gru, label: possm-scratch, params: {MODEL}}}
"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for animal, n in (("A", 3), ("B", 1)):
        for i in range(n):
            rec = make_recording(n_trials=16, n_units=10, seed=10 * len(animal) + i + (50 if animal == "B" else 0),
                                 recording_id=f"{animal.lower()}_{i}")
            save_recording(rec, root / animal / f"{animal.lower()}_{i}.h5")
    return root


def suite_text(text, folders, **subs):
    text = text.replace("path: A", f"path: {folders / 'A'}").replace("path: B", f"path: {folders / 'B'}")
    for k, v in subs.items():
        text = text.replace(k, str(v))
    return text


@pytest.fixture(scope="module")
def pretrained(folders, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pre")
    suite = write_suite(tmp, folders, suite_text(PRETRAIN, folders))
    out = tmp / "runs"
    run_suite(suite, out, progress=False, compare=False, log=lambda s: None)
    (record,) = load_records(out)
    return out, record


def test_pretraining_record_names_its_checkpoint_by_key(pretrained):
    out, record = pretrained
    stem = out / record.scores["checkpoint"]
    assert record.key in stem.name and record.protocol == "pretrain"
    sidecar = json.loads(stem.with_name(stem.name + ".json").read_text())
    assert sidecar["provenance"]["run_key"] == record.key
    assert sidecar["weights"]["sha256"] == record.scores["checkpoint_sha256"]
    assert record.scores["n_sessions"] == 2 and record.scores["epochs"] == 2
    assert len(record.sessions) == 2 and record.summary.n == 2


def test_finetune_records_ui_ft_scratch_and_report(pretrained, folders, tmp_path):
    out_pre, record = pretrained
    ckpt = out_pre / record.scores["checkpoint"]
    suite = write_suite(tmp_path, folders, suite_text(FINETUNE, folders, CKPT=ckpt))
    out = tmp_path / "runs"
    run_suite(suite, out, progress=False, compare=False, log=lambda s: None)
    records = load_records(out)
    assert len(records) == 4  # 2 models x 2 datasets x 1 seed
    o = next(r for r in records if r.label == "o-possm")
    assert o.scores["pretrained"]["key"] == record.key
    assert o.streaming_max_abs_diff is not None and o.streaming_max_abs_diff < 1e-4  # the grown model streams
    modes = {(p.setting["mode"], str(p.setting["train_trials"])) for p in o.sessions[0].points}
    assert modes == {("ui", "4"), ("ft", "4"), ("ui", "all"), ("ft", "all")}
    four = next(p for p in o.sessions[0].points if p.setting["train_trials"] == 4)
    assert four.setting["n_train"] == 4 and four.scores["steps"] > 0 and len(four.scores["curve"]) == 2
    scratch = next(r for r in records if r.label == "possm-scratch")
    assert {p.setting["mode"] for s in scratch.sessions for p in s.points} == {"scratch"}
    # identity names the checkpoint (its stem ends with the pretraining key)
    assert record.key in json.dumps(o.identity)
    for f in [*out.glob("*.md"), *out.glob("*.png")]:
        f.unlink()
    assert main(["report", str(suite), "--out", str(out)]) in (0, None)  # from the records, no training
    assert (out / "efficiency.png").is_file() and (out / "adaptation_curve.png").is_file()
    table = (out / "transfer_vs_scratch.md").read_text()
    assert "o-possm (ft)" in table and "possm-scratch" in table and "heldout_animal" in table


def test_checkpoint_of_another_architecture_is_refused_before_training(pretrained, folders, tmp_path):
    out_pre, record = pretrained
    text = suite_text(FINETUNE, folders, CKPT=out_pre / record.scores["checkpoint"]).replace(
        "label: o-possm, params: {dim: 16, dim_head: 16, hidden: 16", "label: o-possm, params: {dim: 16, dim_head: 16, hidden: 24")
    suite = write_suite(tmp_path, folders, text)
    with pytest.raises(BenchError, match="hidden: checkpoint 16 vs suite 24"):
        run_suite(suite, tmp_path / "runs", progress=False, compare=False, log=lambda s: None)
    assert not list((tmp_path / "runs").glob("records/*.json"))


def test_unknown_checkpoint_label_is_refused(pretrained, folders, tmp_path):
    text = suite_text(FINETUNE, folders, CKPT="nowhere").replace("checkpoints: {o-possm:", "checkpoints: {o-posm:")
    suite = write_suite(tmp_path, folders, text)
    with pytest.raises(BenchError, match="not model labels"):
        run_suite(suite, tmp_path / "runs", progress=False, compare=False, log=lambda s: None)
