"""Provenance of result records: the code that ran is the checkout when the run started."""

from bench.results import provenance as records


def test_provenance_keeps_the_commit_of_the_start_and_notes_a_change_by_the_end(monkeypatch):
    commits = iter([{"commit": "a" * 40, "dirty": False}, {"commit": "b" * 40, "dirty": False}])
    monkeypatch.setattr(records, "_git_commit", lambda: next(commits))
    started = records.provenance("cpu")
    info = records.finish_provenance(started)
    assert info["git"] == {"commit": "a" * 40, "dirty": False}
    assert info["git_at_finish"] == {"commit": "b" * 40, "dirty": False}
    assert info["finished"] >= info["created"]
    assert "git_at_finish" not in started and "finished" not in started  # the snapshot is not mutated


def test_provenance_of_a_run_on_an_unchanged_tree_has_no_finish_commit(monkeypatch):
    monkeypatch.setattr(records, "_git_commit", lambda: {"commit": "c" * 40, "dirty": True})
    info = records.finish_provenance(records.provenance("cpu"))
    assert info["git"] == {"commit": "c" * 40, "dirty": True}
    assert "git_at_finish" not in info
    assert {"packages", "torch_threads", "cpu", "created", "finished"} <= set(info)
