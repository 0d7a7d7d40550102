"""A user's run goes to its own folder and is printed beside the suite's leaderboard."""

import textwrap

from bench.suite.schedule import run_suite

SUITE = """
name: tiny
task: reaching_velocity
leaderboard: board/tiny
train: {epochs: 2, batch_size: 16}
latency: {n_chunks: 20, warmup: 2}
datasets:
  - {name: tiny, source: hdf5, params: {path: FOLDER}}
models:
  - {name: wiener}
"""


def test_default_run_folder_and_comparison_with_the_leaderboard(tmp_path, tiny_folder, monkeypatch):
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(SUITE).replace("FOLDER", str(tiny_folder)))
    logs = []
    board = run_suite(suite, out=tmp_path / "board" / "tiny", progress=False, log=logs.append)
    assert any("the run folder is the leaderboard" in line for line in logs)

    monkeypatch.chdir(tmp_path / "board")  # the default run folder is relative to where the user runs
    logs.clear()
    out = run_suite(suite, progress=False, log=logs.append)
    assert out.resolve() == tmp_path / "board" / "runs" / "tiny"
    assert "0 already recorded, 1 to run" in logs[0]  # the leaderboard's records do not count as the user's
    text = (out / "comparison.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| wiener"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "tiny" and cells[3] == cells[4] and float(cells[5]) == 0.0  # deterministic: same R^2
    assert "Every run has the leaderboard's configuration" in text
    assert (board / "records").is_dir() and len(list((board / "records").glob("*.json"))) == 1

    suite.write_text(suite.read_text().replace("{name: wiener}", "{name: wiener, params: {n_lags: 2}}"))
    logs.clear()
    run_suite(suite, progress=False, log=logs.append)
    text = (out / "comparison.md").read_text()
    assert "wiener / tiny / seed 0: model.params.n_lags: (default) -> 2" in text
