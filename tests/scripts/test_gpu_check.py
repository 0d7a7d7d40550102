"""scripts/gpu_check.py on CPU: the dry run goes through the same three parts a GPU run does and
writes gpu.md with what finished; a machine without CUDA gets a clear refusal; a hanging part is
killed at its budget and a part without time left is not started."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.results.records import load_records

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.py"


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_refuses_without_cuda(tmp_path: Path):
    got = _run("--out", str(tmp_path / "out"))
    assert got.returncode == 2
    assert "No CUDA device is visible" in got.stderr and "--dry-run" in got.stderr and "Traceback" not in got.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # about a minute: four processes start torch; the one end-to-end check of the script
def test_dry_run_trains_times_and_reports(tmp_path: Path):
    out = tmp_path / "out"
    got = _run("--dry-run", "--out", str(out), "--models", "wiener", "--train-models", "possm-gru",
               "--cache-dir", str(tmp_path / "cache"))
    assert got.returncode == 0, got.stderr[-2000:]
    report = (out / "gpu.md").read_text()
    assert "| train | finished |" in report and "| latency | 1 of 1 decoders |" in report
    assert "| graphs | 1 of 1 decoders |" in report
    trained = load_records(out / "gpu_train")
    assert [(r.label, r.trained, r.status) for r in trained] == [("possm-gru", True, "ok")]
    assert trained[0].sessions[0].fit["epochs_run"] == 1 and trained[0].summary.mean is not None
    timed = load_records(out / "gpu")
    assert [r.label for r in timed] == ["wiener"] and timed[0].latency["cpu"]["chunk_ms"] == 50.0
    assert f"| wiener | {timed[0].n_parameters:,} | {timed[0].latency['cpu']['median_ms']:.3f} |" in report
    graph = json.loads((out / "gpu_graphs" / "wiener.json").read_text())
    assert graph == {"captured": False, "reason": "not tried: CUDA graphs need a CUDA device (dry run)"}
    assert "| wiener | False | — | not tried: CUDA graphs need a CUDA device (dry run) |" in report
    assert not list(out.rglob(".tmp-*"))


def test_a_hanging_part_is_killed_at_its_budget(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    t0 = time.perf_counter()
    got = gpu_check.run_part([sys.executable, "-c", "import time; time.sleep(60)"], 1.5, tmp_path / "log")
    assert got["status"] == "stopped at its budget of 2 s" and time.perf_counter() - t0 < 10
    assert gpu_check.run_part(["true"], 0.5, tmp_path / "log")["status"] == "not started (budget spent)"
    assert gpu_check.run_part([sys.executable, "-c", "raise SystemExit(3)"], 30, tmp_path / "log")["status"] == \
        "failed (exit 3)"


def test_unknown_model_is_refused(tmp_path: Path):
    got = _run("--dry-run", "--out", str(tmp_path / "o"), "--models", "nope")
    assert got.returncode == 2 and "['nope']: no such decoder" in got.stderr and "Traceback" not in got.stderr
    got = _run("--dry-run", "--out", str(tmp_path / "o"), "--models", "wiener", "--train-models", "pca-knn")
    assert got.returncode == 2 and "--train-models ['pca-knn']: not decoders of the reaching task" in got.stderr
    assert "supports only: classification" in got.stderr and not (tmp_path / "o").exists()
