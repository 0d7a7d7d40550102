"""Parallel workers take the longest runs first (costs from the committed leaderboard), so a long
run never starts last while the other workers idle; runs never recorded go first."""

from pathlib import Path

from bench.results.records import load_records
from bench.suite.loader import load_suite
from bench.suite.plan import plan_runs
from bench.suite.schedule import longest_first

ROOT = Path(__file__).resolve().parents[2]


def test_speech_runs_are_ordered_by_their_committed_cost():
    suite = load_suite(ROOT / "suites/speech.yaml")
    runs = plan_runs(suite)
    ordered = longest_first(runs, suite)
    assert sorted(r.name for r in ordered) == sorted(r.name for r in runs)
    cost: dict[str, list[float]] = {}
    for rec in load_records(ROOT / "results/speech"):
        cost.setdefault(rec.label, []).append(rec.train_seconds + rec.eval_seconds)
    mean = {label: sum(v) / len(v) for label, v in cost.items()}
    labels = [r.model.display for r in ordered]
    assert [mean[label] for label in labels] == sorted((mean[label] for label in labels), reverse=True)
    assert labels[0] == max(mean, key=mean.get) != runs[0].model.display  # not the suite's first model


def test_runs_without_a_committed_record_go_first_in_suite_order(tmp_path):
    text = (ROOT / "suites/speech.yaml").read_text()
    text = text.replace("models:\n", "models:\n  - {name: speech-gru, label: a-new-gru}\n  - {name: speech-gru, label: b-new-gru}\n", 1)
    path = tmp_path / "speech.yaml"
    path.write_text(text.replace("leaderboard: ../results/speech", f"leaderboard: {ROOT / 'results/speech'}"))
    suite = load_suite(path)
    ordered = [r.model.display for r in longest_first(plan_runs(suite), suite)]
    assert ordered[:6] == ["a-new-gru"] * 3 + ["b-new-gru"] * 3
