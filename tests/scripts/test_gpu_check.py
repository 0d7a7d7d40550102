"""scripts/gpu_check.py on CPU: the dry run goes through the same three parts a GPU run does and
writes gpu.md with what finished; a machine without CUDA gets a clear refusal; a hanging part is
killed at its budget and a part without time left is not started."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.results.records import load_records

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.py"


def _script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_refuses_without_cuda(tmp_path: Path, capsys):
    assert _script().main(["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "No CUDA device is visible" in err and "--dry-run" in err
    assert not (tmp_path / "out").exists()


def _parts_in_process(gpu_check, monkeypatch) -> list[list[str]]:
    """Run each part's command line in this process through the entry point it names (``python -m
    bench ...`` -> ``bench.cli.main``, ``python scripts/gpu_check.py ...`` -> the script's ``main``):
    the same suites, arguments and outputs without three more processes importing torch (~20 s on
    2 cores). The subprocess runner itself (budget, kill, exit status) is checked on its own below,
    and the ``python -m bench`` entry point in tests/test_cli.py. Returns the commands it ran."""
    from bench.cli import main as bench_main

    ran, real = [], gpu_check.run_part

    def run_part(cmd: list[str], timeout: float, log: Path) -> dict:
        if timeout < 1.0:
            return real(cmd, timeout, log)
        assert cmd[0] == sys.executable, cmd
        if cmd[1:3] == ["-m", "bench"]:
            entry = lambda: bench_main(cmd[3:])  # noqa: E731
        else:
            assert Path(cmd[1]) == SCRIPT.resolve(), cmd
            entry = lambda: gpu_check.main(cmd[2:])  # noqa: E731
        ran.append(cmd)
        t0 = time.perf_counter()
        rc = entry()
        return {"status": "finished" if rc == 0 else f"failed (exit {rc})", "seconds": time.perf_counter() - t0,
                "log": str(log)}

    monkeypatch.setattr(gpu_check, "run_part", run_part)
    monkeypatch.chdir(ROOT)  # where run_part starts the parts
    return ran


@pytest.mark.slow  # the one end-to-end check of the script: trains, times and reports one decoder each
def test_dry_run_trains_times_and_reports(tmp_path: Path, monkeypatch):
    out = tmp_path / "out"
    gpu_check = _script()
    ran = _parts_in_process(gpu_check, monkeypatch)
    assert gpu_check.main(["--dry-run", "--out", str(out), "--models", "wiener", "--train-models", "possm-gru",
                           "--cache-dir", str(tmp_path / "cache")]) == 0
    assert [cmd[3] if cmd[1] == "-m" else "--graphs-part" in cmd for cmd in ran] == ["run", "run", True]
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
    gpu_check = _script()
    t0 = time.perf_counter()
    got = gpu_check.run_part([sys.executable, "-c", "import time; time.sleep(60)"], 1.5, tmp_path / "log")
    assert got["status"] == "stopped at its budget of 2 s" and time.perf_counter() - t0 < 10
    assert gpu_check.run_part(["true"], 0.5, tmp_path / "log")["status"] == "not started (budget spent)"
    assert gpu_check.run_part([sys.executable, "-c", "raise SystemExit(3)"], 30, tmp_path / "log")["status"] == \
        "failed (exit 3)"


def test_unknown_or_unsuited_models_are_refused(tmp_path: Path, capsys):
    main = _script().main
    assert main(["--dry-run", "--out", str(tmp_path / "o"), "--models", "nope"]) == 2
    assert "['nope']: no such decoder" in capsys.readouterr().err
    assert main(["--dry-run", "--out", str(tmp_path / "o"), "--models", "wiener", "--train-models", "pca-knn"]) == 2
    err = capsys.readouterr().err
    assert "--train-models ['pca-knn']: not decoders of the reaching task" in err and "supports only: classification" in err
    assert not (tmp_path / "o").exists()


class _FakeGraph:
    """Stands in for torch.cuda's graph API on a CPU machine: capture runs the step, replay counts."""

    def __init__(self):
        self.replays = 0

    def replay(self):
        self.replays += 1


class _Context:
    def __init__(self, *args, end_error: Exception | None = None, **kwargs):
        self.end_error = end_error

    def __enter__(self):
        return self

    def wait_stream(self, other):
        pass

    def __exit__(self, *exc):
        if self.end_error is not None:  # capture_end fails after a step that broke the capture
            raise self.end_error
        return False


class _Decoder:
    def __init__(self, fail: Exception | None = None):
        self.fail, self.steps = fail, 0

    def to(self, device):
        return True

    def reset(self, recording):
        pass

    def step(self, chunk):
        self.steps += 1
        if self.fail is not None and self.steps > 3:  # warm-up passes, capture fails
            raise self.fail


def test_capture_step_reports_the_steps_own_reason_or_replay_times(monkeypatch):
    gpu_check = _script()
    cuda = torch.cuda
    for name, value in {"Stream": lambda: _Context(), "stream": lambda s: _Context(), "synchronize": lambda: None,
                        "current_stream": lambda: _Context(), "CUDAGraph": _FakeGraph}.items():
        monkeypatch.setattr(cuda, name, value, raising=False)
    data = type("Data", (), {"recording": None})()

    broken = RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore")
    monkeypatch.setattr(cuda, "graph", lambda g: _Context(end_error=RuntimeError("capture invalidated")))
    got = gpu_check.capture_step(_Decoder(fail=broken), data, chunk=None)
    assert got == {"captured": False,
                   "reason": "capture failed: RuntimeError: CUDA error: operation not permitted when stream is capturing"}

    monkeypatch.setattr(cuda, "graph", lambda g: _Context())
    decoder = _Decoder()
    got = gpu_check.capture_step(decoder, data, chunk=None)
    assert got["captured"] is True and got["replays"] == gpu_check.GRAPH_REPLAYS and got["median_ms"] >= 0
    assert decoder.steps == 4  # three warm-up steps and the captured one; replays do not call step


def test_rerun_resumes_or_starts_fresh_and_touches_nothing_else(tmp_path: Path):
    from tests.paper.records_factory import record, write

    out = tmp_path / "out"
    write(out, "gpu", record("wiener", "c_co_tiny", 0, [], suite="gpu_latency"))
    (out / "keep.txt").write_text("the user's")
    args = ["--dry-run", "--out", str(out), "--models", "wiener", "--train-models", "possm-gru", "--budget-s", "0.5"]
    main = _script().main
    assert main(args) == 0  # no time for any part: each says so, the report is still written
    report = (out / "gpu.md").read_text()
    assert "Resumed: 1 record(s) of an earlier run" in report and "| train | not started (budget spent) |" in report
    assert main(args + ["--fresh"]) == 0
    assert not (out / "gpu").exists() and (out / "keep.txt").read_text() == "the user's"
    assert "Resumed" not in (out / "gpu.md").read_text()
