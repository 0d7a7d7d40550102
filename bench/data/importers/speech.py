"""Importers for the public speech-BCI layouts, as recipes (field names stored as data) and the
``speech_import`` data source.

Recipes (FACTS.md "Speech"):
- ``willett2023_competition``: one ``.mat`` per day with per-trial cells ``sentenceText``,
  ``tx1``..``tx4`` (threshold crossings at several thresholds; ``tx1`` is read) and ``spikePow``,
  each (T, 256) at 20 ms, and ``blockIdx``. Phoneme labels come from the text through
  ``bench.data.phonemes``; the last block of each file is the test block.
- ``card2024_benchmark``: one folder per session holding ``data_train.hdf5`` and ``data_val.hdf5``,
  a group per trial with ``input_features`` (T, 512 = 256 crossings + 256 spike-band power),
  ``seq_class_ids`` (phoneme ids, blank 0, zero-padded; attribute ``seq_len``) and
  ``transcription`` (text, or its character codes). ``data_train`` trials are train, ``data_val``
  trials test (labelled ``data_test`` files are not part of the benchmark's scoring).

Every trial is checked before anything is written: feature widths, finite values, labels that
CTC can align in the trial's bins, words the dictionary knows; an error names the file and trial.
Trials are laid end to end on one 20 ms timeline with a short gap, as crossings and power streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field
from tqdm.auto import tqdm

from bench.data.intervals import Intervals
from bench.data.phonemes import N_CLASSES, ctc_frames_needed, text_to_phonemes
from bench.data.recording import FeatureStream, Recording, Trials
from bench.data.sources import DataSource, SourceParams, params_key
from bench.data.storage import save_recording
from bench.errors import DataError
from bench.registry import data_sources

BIN_S = 0.02
N_CHANNELS = 256
GAP_BINS = 10  # zero bins between trials on the joined timeline
VALID_EVERY = 10  # every tenth train trial is held out for model selection
SPEECH_IMPORTER_VERSION = "1"

RECIPES = {
    "willett2023_competition": {"pattern": "*.mat", "text": "sentenceText", "crossings": "tx1",
                                "power": "spikePow", "block": "blockIdx"},
    "card2024_benchmark": {"pattern": "*/data_*.hdf5", "features": "input_features", "labels": "seq_class_ids",
                           "label_length": "seq_len", "text": "transcription",
                           "splits": {"data_train": "train", "data_val": "test"}},
}
RecipeName = Literal["willett2023_competition", "card2024_benchmark"]


@dataclass
class SpeechTrial:
    crossings: np.ndarray  # (T, 256)
    power: np.ndarray  # (T, 256)
    labels: np.ndarray  # class ids
    text: str
    split: str  # train / test
    where: str  # "file F, trial i" for messages


def _check_trial(t: SpeechTrial) -> SpeechTrial:
    for name, x in (("threshold crossings", t.crossings), ("spike-band power", t.power)):
        if x.ndim != 2 or x.shape[1] != N_CHANNELS:
            raise DataError(f"{t.where}: {name} have shape {x.shape}; expected (time bins, {N_CHANNELS}) at 20 ms.")
        if not np.all(np.isfinite(x)):
            raise DataError(f"{t.where}: {name} hold non-finite values; fill or drop the trial before importing.")
    if t.crossings.shape[0] != t.power.shape[0]:
        raise DataError(f"{t.where}: {t.crossings.shape[0]} bins of crossings but {t.power.shape[0]} of spike-band "
                        "power; both streams must cover the same bins.")
    if np.any(t.crossings < 0) or np.any(t.crossings != np.round(t.crossings)):
        raise DataError(f"{t.where}: threshold crossings must be whole non-negative counts per bin.")
    if t.labels.size == 0 or t.labels.min() < 1 or t.labels.max() >= N_CLASSES:
        raise DataError(f"{t.where}: phoneme ids {t.labels.tolist()[:8]}... must be 1..{N_CLASSES - 1} "
                        "(0 is the CTC blank) and non-empty.")
    need = ctc_frames_needed(t.labels)
    if t.crossings.shape[0] < need:
        raise DataError(
            f"{t.where}: the trial has {t.crossings.shape[0]} bins of 20 ms but its {t.labels.size} phoneme labels "
            f"need at least {need} frames under CTC (one per label, plus a blank between repeats); the trial is "
            "cut short or its labels belong to another trial."
        )
    return t


def _cells(mat: dict, key: str, path: Path) -> list:
    if key not in mat:
        raise DataError(f"File {path}: no variable '{key}'; the 2023 competition layout has sentenceText, "
                        "tx1..tx4, spikePow and blockIdx per trial.")
    return list(np.asarray(mat[key], dtype=object).reshape(-1))


def read_competition_mat(path: Path, recipe: dict) -> list[SpeechTrial]:
    import scipy.io

    mat = scipy.io.loadmat(path)
    texts = _cells(mat, recipe["text"], path)
    tx, pw = _cells(mat, recipe["crossings"], path), _cells(mat, recipe["power"], path)
    blocks = np.asarray(_cells(mat, recipe["block"], path), dtype=np.int64)
    if not len(texts) == len(tx) == len(pw) == len(blocks):
        raise DataError(f"File {path}: {len(texts)} sentences, {len(tx)} tx1, {len(pw)} spikePow and "
                        f"{len(blocks)} blockIdx entries; expected one of each per trial.")
    last = blocks.max()
    trials = []
    for i in range(len(texts)):
        where = f"File {path}, trial {i}"
        text = str(np.asarray(texts[i]).reshape(-1)[0]).strip() if np.size(texts[i]) else ""
        labels = np.asarray(text_to_phonemes(text, where), np.int64)
        trials.append(_check_trial(SpeechTrial(np.asarray(tx[i], np.float32), np.asarray(pw[i], np.float32), labels,
                                               text, "test" if blocks[i] == last else "train", where)))
    return trials


def _text_of(value) -> str:
    a = np.asarray(value)
    if a.dtype.kind in "iu":  # character codes, zero-padded
        return "".join(chr(c) for c in a.reshape(-1) if c > 0)
    v = a.reshape(-1)[0] if a.size else ""
    return v.decode() if isinstance(v, bytes) else str(v)


def read_benchmark_hdf5(path: Path, recipe: dict) -> list[SpeechTrial]:
    import h5py

    split = recipe["splits"].get(path.stem)
    if split is None:
        return []
    trials = []
    with h5py.File(path, "r") as f:
        for name in sorted(f.keys()):
            g, where = f[name], f"File {path}, trial {name}"
            missing = [k for k in (recipe["features"], recipe["labels"]) if k not in g]
            if missing:
                raise DataError(f"{where}: no {', '.join(missing)}; the 2024/2025 layout has input_features "
                                "(T, 512) and seq_class_ids per trial.")
            x = np.asarray(g[recipe["features"]], np.float32)
            if x.ndim != 2 or x.shape[1] != 2 * N_CHANNELS:
                raise DataError(f"{where}: input_features have shape {x.shape}; expected (time bins, "
                                f"{2 * N_CHANNELS}) = {N_CHANNELS} crossings then {N_CHANNELS} spike-band power.")
            ids = np.asarray(g[recipe["labels"]], np.int64).reshape(-1)
            n = int(g.attrs.get(recipe["label_length"], np.count_nonzero(ids)))
            text = _text_of(g[recipe["text"]][()]) if recipe["text"] in g else str(g.attrs.get("sentence_label", ""))
            trials.append(_check_trial(SpeechTrial(x[:, :N_CHANNELS], x[:, N_CHANNELS:], ids[:n], text, split, where)))
    return trials


def speech_recording(trials: list[SpeechTrial], recording_id: str) -> Recording:
    """Trials end to end on one 20 ms timeline (GAP_BINS of zeros between them), with splits."""
    lengths = np.array([t.crossings.shape[0] for t in trials])
    starts_bins = np.concatenate([[GAP_BINS], GAP_BINS + np.cumsum(lengths + GAP_BINS)[:-1]])
    n_bins = int(starts_bins[-1] + lengths[-1] + GAP_BINS)
    tx, pw = np.zeros((n_bins, N_CHANNELS), np.float32), np.zeros((n_bins, N_CHANNELS), np.float32)
    for t, s in zip(trials, starts_bins):
        tx[s : s + len(t.crossings)], pw[s : s + len(t.power)] = t.crossings, t.power
    start, end = starts_bins * BIN_S, (starts_bins + lengths) * BIN_S
    labels = np.full((len(trials), max(t.labels.size for t in trials)), -1, np.int64)
    for i, t in enumerate(trials):
        labels[i, : t.labels.size] = t.labels
    split = np.array([t.split for t in trials])
    train_idx = np.flatnonzero(split == "train")
    valid = np.zeros(len(trials), bool)
    valid[train_idx[VALID_EVERY - 1 :: VALID_EVERY]] = True
    masks = {"train": (split == "train") & ~valid, "valid": valid, "test": split == "test"}
    ids = np.array([f"ch{c:03d}" for c in range(N_CHANNELS)])
    return Recording(
        recording_id=recording_id, subject_id="unknown", brainset="speech_import", task_type="unknown",
        domain=Intervals.single(0.0, n_bins * BIN_S), spike_times=np.zeros(0), spike_units=np.zeros(0, np.int64),
        unit_ids=np.zeros(0, str),
        trials=Trials(start, end, np.full(len(trials), -1, np.int64), np.ones(len(trials), bool), labels,
                      np.array([t.text for t in trials])),
        splits={k: Intervals(start[m], end[m]) for k, m in masks.items()},
        features={"threshold_crossings": FeatureStream("threshold_crossings", BIN_S, 0.0, tx, ids, "counts"),
                  "spike_band_power": FeatureStream("spike_band_power", BIN_S, 0.0, pw, ids, "continuous")},
    )


def read_sessions(folder: Path, recipe_name: str) -> dict[str, list[SpeechTrial]]:
    """Every session's trials in ``folder`` under the recipe; DataError when there are none."""
    recipe = RECIPES[recipe_name]
    files = sorted(folder.glob(recipe["pattern"]))
    sessions: dict[str, list[SpeechTrial]] = {}
    for path in files:
        if recipe_name == "willett2023_competition":
            sessions[path.stem] = read_competition_mat(path, recipe)
        else:
            sessions.setdefault(path.parent.name, []).extend(read_benchmark_hdf5(path, recipe))
    sessions = {k: v for k, v in sessions.items() if v}
    if not sessions:
        raise DataError(f"Folder {folder} holds no trials in the {recipe_name} layout (files matching "
                        f"'{recipe['pattern']}').")
    for sid, trials in sessions.items():
        if not any(t.split == "test" for t in trials) or not any(t.split == "train" for t in trials):
            raise DataError(f"Session {sid} in {folder}: needs train and test trials (recipe {recipe_name}).")
    return sessions


class SpeechImportParams(SourceParams):
    recipe: RecipeName
    path: str = Field(description="folder of the recipe's files, relative to the suite file")


@data_sources.register("speech_import")
class SpeechImportSource(DataSource):
    """Speech-BCI files in a public layout, checked in full, then cached as recordings (one per session)."""

    Params = SpeechImportParams

    def materialize(self, progress: bool = True) -> list[Path]:
        folder = self.resolve(self.params.path)
        if not folder.is_dir():
            raise DataError(f"Speech data folder {folder} does not exist (data source 'speech_import', field 'path').")
        stamp = sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                       for p in folder.rglob("*") if p.is_file())
        key = params_key({"version": SPEECH_IMPORTER_VERSION, "recipe": self.params.recipe, "files": stamp})
        out = self.cache_dir / "speech_import" / f"{self.params.recipe}-{key}"
        done = out / "complete"
        if not done.is_file():
            sessions = read_sessions(folder, self.params.recipe)  # every check passes before a file is written
            recordings = [speech_recording(t, sid) for sid, t in sessions.items()]
            for rec in tqdm(recordings, desc="importing speech", disable=not progress):
                save_recording(rec, out / f"{rec.recording_id}.h5")
            done.write_text("\n".join(r.recording_id for r in recordings))
        return sorted(out / f"{sid}.h5" for sid in done.read_text().split())
