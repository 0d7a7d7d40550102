"""The single_letters layout (Willett et al.'s singleLetters.mat) through the recipe, the suite
path, and its errors (each naming the file and variable, nothing written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from bench.data.importers.api import import_from_spec
from bench.data.letters import CHARACTERS, FILE_NAMES, STREAM
from bench.data.storage import load_recording
from bench.errors import DataError

RECIPE = "willett_single_letters"


def write_single_letters(folder: Path, n_trials: int = 3, n_bins: int = 80, n_electrodes: int = 192,
                         names=FILE_NAMES, cues: bool = True, seed: int = 0, extra: dict | None = None) -> Path:
    """A small singleLetters.mat: per character a (trials, bins, electrodes) cube whose counts rise
    on a character-specific set of electrodes after the go cue (bin 50), plus the cue list."""
    rng = np.random.default_rng(seed)
    data = {}
    for k, name in enumerate(names):
        cube = rng.poisson(0.2, (n_trials, n_bins, n_electrodes)).astype(np.float64)
        cube[:, 55:75, (k * 5) % n_electrodes : (k * 5) % n_electrodes + 5] += 3
        data[f"neuralActivityCube_{name}"] = cube
    if cues:
        order = rng.permutation(np.repeat(np.array(list(names), dtype=object), n_trials))
        data["characterCues"] = order.reshape(-1, 1)
        data["goPeriodOnsetTimeBin"] = np.arange(order.size) * 300 + 100
        data["blockNumsTimeSeries"] = np.repeat([1, 2], order.size * 150 + 200)
    data.update(extra or {})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "singleLetters.mat"
    scipy.io.savemat(path, data)
    return path


def test_recipe_reads_the_layout_in_cue_order(tmp_path):
    day = tmp_path / "t5.2019.05.08"
    write_single_letters(day)
    [out] = import_from_spec({"recipe": RECIPE, "path": str(day)}, tmp_path / "out")
    rec = load_recording(out)
    stream = rec.features[STREAM]
    assert rec.recording_id == "t5.2019.05.08" and rec.subject_id == "t5"
    assert stream.n_channels == 192 and stream.bin_s == 0.01 and len(rec.trials) == 3 * len(CHARACTERS)
    cues = scipy.io.loadmat(day / "singleLetters.mat")["characterCues"].reshape(-1)
    assert [FILE_NAMES[c] for c in rec.trials.target_id] == [str(c[0]) for c in cues]
    # the first trial holds its cube's first trial, bins unchanged
    mat = scipy.io.loadmat(day / "singleLetters.mat")
    first = FILE_NAMES[rec.trials.target_id[0]]
    assert np.array_equal(stream.values[:80], mat[f"neuralActivityCube_{first}"][0])


def test_a_suite_scores_an_imported_file(tmp_path):
    from bench.results.records import load_records
    from bench.suite.schedule import run_suite

    day = tmp_path / "t5.2019.05.08"
    write_single_letters(day, n_trials=4)
    suite = tmp_path / "hw.yaml"
    suite.write_text(
        "name: hw_import\ntask: handwriting_character\nchunk_ms: 50\nseeds: [0]\n"
        "train: {epochs: 1, batch_size: 16}\nlatency: {threads: 1, warmup: 2, n_chunks: 10}\n"
        f"datasets:\n  - {{name: t5, source: import, params: {{recipe: {RECIPE}, path: {day}}}}}\n"
        "models:\n  - {name: pca-knn, params: {window_ms: 500, k: 3}}\n"
    )
    out = run_suite(suite, out=tmp_path / "runs", cache_dir=tmp_path / "cache", progress=False, compare=False,
                    log=lambda *_: None)
    [record] = load_records(out)
    assert record.trained and record.summary.mean > 0.5  # the cubes carry each character's signature
    assert np.array(record.sessions[0].metrics["confusion"]).shape == (31, 31)
    assert (out / "confusion_t5.png").is_file()  # the report's confusion figure and per-session table
    assert "t5.2019.05.08" in (out / "sessions.md").read_text()


@pytest.mark.parametrize("kwargs, message", [
    ({"n_electrodes": 191}, r"variable 'neuralActivityCube_a' has shape \(3, 80, 191\); expected .*192 electrodes"),
    ({"extra": {"neuralActivityCube_semicolon": np.zeros((3, 80, 192))}},
     r"variable 'neuralActivityCube_semicolon' names an unknown character 'semicolon'"),
    ({"n_trials": 1}, r"variable 'neuralActivityCube_a' holds 1 trial\(s\) of 'a'.*at least 3 trials"),
    ({"extra": {"characterCues": np.array(["a", "b", "zz"], dtype=object).reshape(-1, 1)}, "names": ("a", "b")},
     r"variable 'characterCues' names unknown character\(s\) \['zz'\]"),
])
def test_bad_files_name_the_file_and_variable_and_write_nothing(tmp_path, kwargs, message):
    day = tmp_path / "t5.2019.05.08"
    path = write_single_letters(day, **kwargs)
    with pytest.raises(DataError, match=message) as err:
        import_from_spec({"recipe": RECIPE, "path": str(day)}, tmp_path / "out")
    assert str(path) in str(err.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_willett_source_imports_every_day_folder_and_caches(tmp_path):
    from bench.registry import data_sources

    root = tmp_path / "Datasets"
    for i, day in enumerate(("t5.2019.05.08", "t5.2019.11.25")):
        write_single_letters(root / day, seed=i)
    (root / "notes").mkdir()  # a folder without singleLetters.mat is not a day
    cls = data_sources.get("willett_handwriting")
    src = cls(cls.Params(path=str(root)), cache_dir=tmp_path / "cache")
    paths = src.materialize(progress=False)
    assert [p.stem for p in paths] == ["t5.2019.05.08", "t5.2019.11.25"]
    stamp = paths[0].stat().st_mtime_ns
    assert src.materialize(progress=False) == paths and paths[0].stat().st_mtime_ns == stamp
    assert load_recording(paths[1]).recording_id == "t5.2019.11.25"
    only = cls(cls.Params(path=str(root), sessions=["t5.2019.11.25"]), cache_dir=tmp_path / "cache")
    assert [p.stem for p in only.materialize(progress=False)] == ["t5.2019.11.25"]
    with pytest.raises(DataError, match=r"no day folder\(s\) \['t5.2020.01.01'\]"):
        cls(cls.Params(path=str(root), sessions=["t5.2020.01.01"]), cache_dir=tmp_path / "cache").materialize(False)
