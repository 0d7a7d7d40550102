"""Speech importers: small files written in the 2023 competition (.mat) and 2024/2025 benchmark
(HDF5) layouts are read into recordings the speech task scores; bad trials are refused by name."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from bench.data.importers.speech import SpeechImportParams, SpeechImportSource
from bench.data.phonemes import UnknownWordError, text_to_phonemes
from bench.data.storage import load_recording
from bench.errors import DataError
from bench.tasks.speech import SpeechPhonemes

SENTENCES = ["hello world", "the cat sat", "we can go now", "i like tea", "good morning", "all is well"]


def trial_arrays(rng, text, n_bins=None):
    n = n_bins or 12 * len(text) + 40  # ample frames for its phonemes
    return rng.poisson(1.0, (n, 256)).astype(np.float64), rng.gamma(2.0, 1.0, (n, 256))


def cells(items):
    out = np.empty((len(items), 1), dtype=object)
    for i, x in enumerate(items):
        out[i, 0] = x
    return out


def write_mat(path: Path, texts=SENTENCES, short_trial=None, power_width=256, seed=0):
    rng = np.random.default_rng(seed)
    tx, pw = [], []
    for i, t in enumerate(texts):
        x, p = trial_arrays(rng, t, 3 if i == short_trial else None)
        tx.append(x), pw.append(p[:, :power_width])
    scipy.io.savemat(path, {"sentenceText": np.array(texts, dtype=object), "tx1": cells(tx), "tx2": cells(tx),
                            "spikePow": cells(pw), "blockIdx": np.repeat([1, 1, 1, 1, 2, 2], 1)[: len(texts), None]})


def write_hdf5(folder: Path, width=512, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, texts in (("train", SENTENCES[:4]), ("val", SENTENCES[4:]), ("test", SENTENCES[:1])):
        with h5py.File(folder / f"data_{split}.hdf5", "w") as f:
            for i, t in enumerate(texts):
                g = f.create_group(f"trial_{i:04d}")
                x, p = trial_arrays(rng, t)
                g["input_features"] = np.concatenate([x, p], axis=1)[:, :width].astype(np.float32)
                ids = text_to_phonemes(t)
                g["seq_class_ids"] = np.pad(ids, (0, 500 - len(ids)))
                g.attrs["seq_len"] = len(ids)
                g["transcription"] = np.pad(np.frombuffer(t.encode(), np.uint8).astype(np.int32), (0, 500 - len(t)))


def source(tmp_path, recipe, folder):
    return SpeechImportSource(SpeechImportParams(recipe=recipe, path=str(folder)), cache_dir=tmp_path / "cache")


def test_competition_mat_is_imported_and_scored(tmp_path):
    folder = tmp_path / "competition"
    folder.mkdir()
    write_mat(folder / "t12.2022.06.01.mat")
    paths = source(tmp_path, "willett2023_competition", folder).materialize(progress=False)
    rec = load_recording(paths[0])
    assert rec.trials.sentence[0] == "hello world"
    np.testing.assert_array_equal(rec.trials.label_sequence(0), text_to_phonemes("hello world"))
    assert rec.features["threshold_crossings"].n_channels == 256 and "spike_band_power" in rec.features
    data = SpeechPhonemes().prepare(rec, 0.02)
    assert len(data.segments("test")) == 2  # the last block
    segs = data.segments("test")
    first = segs[0]
    np.testing.assert_allclose(rec.features["threshold_crossings"].values[
        int(round(first.start / 0.02)) : int(round(first.end / 0.02))].sum(),
        scipy.io.loadmat(folder / "t12.2022.06.01.mat")["tx1"][4, 0].sum())


def test_benchmark_hdf5_is_imported(tmp_path):
    write_hdf5(tmp_path / "bench" / "t15.2023.08.11")
    paths = source(tmp_path, "card2024_benchmark", tmp_path / "bench").materialize(progress=False)
    assert [p.stem for p in paths] == ["t15.2023.08.11"]
    rec = load_recording(paths[0])
    assert list(rec.trials.sentence) == SENTENCES[:4] + SENTENCES[4:]  # data_test (unlabelled) left out
    data = SpeechPhonemes().prepare(rec, 0.02)
    assert len(data.segments("test")) == 2 and len(data.segments("train")) == 4


def test_unknown_word_names_file_and_trial(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    write_mat(folder / "day.mat", texts=SENTENCES[:2] + ["hello blorptastic"] + SENTENCES[3:])
    src = source(tmp_path, "willett2023_competition", folder)
    with pytest.raises(UnknownWordError, match=r"day\.mat, trial 2: the word 'blorptastic'"):
        src.materialize(progress=False)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.h5"))


def test_trial_too_short_names_file_and_trial(tmp_path):
    folder = tmp_path / "short"
    folder.mkdir()
    write_mat(folder / "day.mat", short_trial=1)
    with pytest.raises(DataError, match=r"day\.mat, trial 1: the trial has 3 bins .* need at least"):
        source(tmp_path, "willett2023_competition", folder).materialize(progress=False)
    assert not any((tmp_path / "cache").rglob("*.h5")) if (tmp_path / "cache").exists() else True


def test_mismatched_feature_widths(tmp_path):
    folder = tmp_path / "width"
    folder.mkdir()
    write_mat(folder / "day.mat", power_width=128)
    with pytest.raises(DataError, match=r"day\.mat, trial 0: spike-band power have shape \(\d+, 128\)"):
        source(tmp_path, "willett2023_competition", folder).materialize(progress=False)
    write_hdf5(tmp_path / "h5" / "s1", width=500)
    with pytest.raises(DataError, match=r"data_train\.hdf5, trial trial_0000: input_features have shape \(\d+, 500\)"):
        source(tmp_path, "card2024_benchmark", tmp_path / "h5").materialize(progress=False)
    assert not any((tmp_path / "cache").rglob("*.h5")) if (tmp_path / "cache").exists() else True


def test_suite_scores_imported_files(tmp_path, capsys, monkeypatch):
    """Both layouts through a suite: import, train a tiny speech GRU, report PER with its interval."""
    import pandas as pd
    import yaml

    from bench.cli import main
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    (tmp_path / "mat").mkdir()
    write_mat(tmp_path / "mat" / "day1.mat")
    write_hdf5(tmp_path / "h5" / "s1")
    suite = {
        "name": "speech_import_test", "task": {"name": "speech_phonemes", "params": {"n_bootstrap": 100}},
        "chunk_ms": 20, "seeds": [0], "train": {"epochs": 1, "batch_size": 4},
        "latency": {"enabled": False},
        "datasets": [
            {"name": "competition", "source": "speech_import", "params": {"recipe": "willett2023_competition", "path": "mat"}},
            {"name": "benchmark", "source": "speech_import", "params": {"recipe": "card2024_benchmark", "path": "h5"}},
        ],
        "models": [{"name": "speech-gru", "params": {"hidden": 8, "layers": 1, "unfold_kernel": 2, "unfold_stride": 2}}],
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    # `bench run` in-process (tests/test_cli.py covers the python -m bench entry point)
    code = main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "res"),
                 "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 0, capsys.readouterr().err[-3000:]
    summary = pd.read_csv(tmp_path / "res" / "summary.csv")
    assert set(summary["dataset"]) == {"competition", "benchmark"}
    # one epoch leaves the model emitting phonemes on most frames: PER finite, above 0 (insertions can exceed 1)
    assert (summary["mean"] > 0).all() and summary["mean"].map(np.isfinite).all()
    records = list((tmp_path / "res").rglob("*.json"))
    assert any("per_ci_high" in r.read_text() for r in records)
    # the report's sequence extras: pooled PER with its interval in table.md, decoded sentences per dataset
    table = (tmp_path / "res" / "table.md").read_text()
    assert "## Pooled phoneme error rate" in table and "95 % CI (sentences)" in table
    pooled = pd.read_csv(tmp_path / "res" / "pooled.csv")
    assert set(pooled["dataset"]) == {"competition", "benchmark"}
    assert ((pooled["per_ci_low"] <= pooled["pooled_per"]) & (pooled["pooled_per"] <= pooled["per_ci_high"])).all()
    assert (pooled["peak_train_rss_mb"] > 0).all()  # the speech GRU records its training's peak memory
    assert (tmp_path / "res" / "decoded_competition.png").stat().st_size > 1000
    assert (tmp_path / "res" / "decoded_benchmark.png").stat().st_size > 1000


@pytest.mark.parametrize("bad", ["unknown_word", "short_trial", "power_width"])
def test_suite_refuses_bad_speech_files_and_writes_nothing(tmp_path, capsys, monkeypatch, bad):
    """Through `bench run`: one clear paragraph naming the file and trial, exit code 2, no traceback,
    no record, table or imported file anywhere under the run folder or the cache."""
    import yaml

    from bench.cli import main

    folder = tmp_path / "mat"
    folder.mkdir()
    kwargs = {"unknown_word": {"texts": SENTENCES[:2] + ["hello blorptastic"] + SENTENCES[3:]},
              "short_trial": {"short_trial": 1}, "power_width": {"power_width": 128}}[bad]
    write_mat(folder / "day1.mat", **kwargs)
    suite = {"name": "speech_bad", "task": "speech_phonemes", "chunk_ms": 20, "seeds": [0],
             "train": {"epochs": 1}, "latency": {"enabled": False},
             "datasets": [{"name": "d", "source": "speech_import",
                           "params": {"recipe": "willett2023_competition", "path": "mat"}}],
             "models": [{"name": "speech-gru", "params": {"hidden": 8, "layers": 1}}]}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    monkeypatch.chdir(tmp_path)
    code = main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "res"), "--cache-dir",
                 str(tmp_path / "cache"), "--no-progress", "--no-track"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "day1.mat" in err and ("trial 2" in err if bad == "unknown_word" else ("trial 1" if bad == "short_trial" else "trial 0") in err)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".md", ".csv", ".png", ".h5")]
    assert written == []
