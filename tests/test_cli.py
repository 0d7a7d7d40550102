"""The command line: user mistakes exit with status 2 and one paragraph, never a traceback.

Most commands run in-process through ``bench.cli.main`` (a subprocess per test costs seconds of
imports on 2 cores); one test goes through ``python -m bench`` to cover the real entry point.
"""

import subprocess
import sys
import traceback
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench(capsys, monkeypatch):
    """Run ``bench ARGS`` in-process; returns returncode / stdout / stderr like subprocess.run."""
    def run(*args, cwd=ROOT):
        monkeypatch.chdir(cwd)
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception:  # an escaped exception is what a user would see as a traceback
            code, tb = 1, traceback.format_exc()
            captured = capsys.readouterr()
            return SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err + tb)
        captured = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err)
    return run


def test_entry_point_exits_2_without_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench", "run", str(tmp_path / "none.yaml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_list_shows_models_tasks_sources(bench):
    out = bench("list")
    assert out.returncode == 0, out.stderr
    for name in ("wiener", "mlp", "gru", "reaching_velocity", "reach_direction", "simulator", "import", "hdf5"):
        assert name in out.stdout


def test_validate_shipped_suites(bench):
    for suite in sorted((ROOT / "suites").glob("*.yaml")):
        out = bench("validate", str(suite))
        assert out.returncode == 0, f"{suite}: {out.stderr}"
        assert "valid" in out.stdout


def test_bad_suite_exits_2_without_traceback(bench, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\ntask: reaching_velocity\ndatasets: [{name: d, source: simulator, params: {preset: nope}}]\nmodels: [{name: wiener}]\n")
    out = bench("validate", str(p))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "datasets[0].params.preset" in out.stderr and str(p) in out.stderr


def test_missing_suite_file(bench, tmp_path):
    out = bench("run", str(tmp_path / "none.yaml"))
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_protocol_command_runs_its_suite_with_the_options(bench, tmp_path):
    out = bench("params", "--models", "wiener", "--n-units", "12", "--out", str(tmp_path / "p"), "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "| wiener" in out.stdout and (tmp_path / "p" / "parameters.md").exists()
    rec = next((tmp_path / "p" / "records").glob("wiener__*.json")).read_text()
    assert '"n_neurons": 12' in rec and '"protocol": "parameters"' in rec


def test_protocol_command_with_an_unknown_model_exits_2(bench, tmp_path):
    out = bench("latency", "--models", "gruu", "--out", str(tmp_path / "l"))
    assert out.returncode == 2 and "Traceback" not in out.stderr and "gruu" in out.stderr
