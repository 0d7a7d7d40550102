"""DDP: pretraining under torchrun with 2 gloo processes follows the loss trajectory of one process
on the same global batch (float tolerance), and ends with the same weights."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.pretraining.checkpoint import load_checkpoint
from bench.results.records import load_records
from bench.suite.schedule import run_suite
from tests.conftest import write_suite
from tests.pretraining.test_protocols import folders  # noqa: F401  (fixture)

SUITE = """
name: pre_ddp
task: reaching_velocity
train: {epochs: 3, batch_size: 8, lr: 0.003}
protocol: pretrain
datasets:
  - {name: pool, source: pool, params: {members: [{source: hdf5, params: {path: A}}]}}
models:
  - {name: possm-gru, params: {dim: 16, dim_head: 16, hidden: 16, dropout: 0.0, unit_dropout: false}}
"""

TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists() or not torch.distributed.is_available(), reason="needs torchrun")
def test_two_gloo_processes_match_one_process(folders, tmp_path):  # noqa: F811
    suite = write_suite(tmp_path, folders, SUITE.replace("path: A", f"path: {folders / 'A'}"))
    run_suite(suite, tmp_path / "one", progress=False, compare=False, log=lambda s: None)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "bench.pretraining.distributed",
                           str(suite), "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (one,), (two,) = load_records(tmp_path / "one"), load_records(tmp_path / "two")
    assert one.key == two.key and two.provenance["distributed"]["world_size"] == 2
    a, b = one.scores["loss_curve"], two.scores["loss_curve"]
    assert [h["steps"] for h in a] == [h["steps"] for h in b]
    for x, y in zip(a, b):
        assert x["train_loss"] == pytest.approx(y["train_loss"], rel=1e-4)
        assert x["valid_loss"] == pytest.approx(y["valid_loss"], rel=1e-4)
    w1 = load_checkpoint(tmp_path / "one" / one.scores["checkpoint"]).decoder.module.state_dict()
    w2 = load_checkpoint(tmp_path / "two" / two.scores["checkpoint"]).decoder.module.state_dict()
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], rtol=1e-4, atol=1e-5, msg=k)


def test_without_torchrun_it_says_how_to_start(capsys, monkeypatch):
    from bench.pretraining.distributed import main

    monkeypatch.delenv("RANK", raising=False)
    assert main(["suite.yaml"]) == 2
    assert "torchrun" in capsys.readouterr().err
