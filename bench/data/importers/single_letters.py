"""The ``single_letters`` layout: Willett et al. 2021's ``singleLetters.mat`` (Dryad, one per day).

The file holds one cube per character, ``neuralActivityCube_<name>`` of trials x 10 ms bins x 192
electrodes (threshold crossings), ``<name>`` being a-z or greaterThan / comma / apostrophe / tilde
/ questionMark (``bench.data.letters``). When the file also carries the cue list
(``characterCues``: the character of every trial, in the order they were run), the trials are
laid out in that order; without it, character by character. The block variables are not read:
the split is stratified by character (``bench.data.letters``), not by block.

Each cube's trials are assumed to start ``CUBE_GO_BIN`` bins (0.5 s) before the go cue. Every
problem (a cube of the wrong shape or channel count, an unknown character name, non-count values,
too few trials of a character to split) is a DataError naming the file and the variable, raised
before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data.importers.messages import fail, shape_of
from bench.data.importers.readers.mat import _load_mat
from bench.data.letters import CHARACTERS, FILE_NAMES, MIN_TRIALS_PER_CHARACTER, LetterTrial, letters_recording
from bench.data.recording import Recording

CUBE_PREFIX = "neuralActivityCube_"
N_ELECTRODES = 192  # T5's two 96-electrode arrays
CUBE_GO_BIN = 50  # the cubes start 0.5 s before the go cue
BIN_S = 0.01


def _cue_names(raw) -> list[str]:
    """characterCues as plain strings (a MATLAB cell array of char arrays, or strings)."""
    out = []
    for v in np.asarray(raw, dtype=object).reshape(-1):
        while isinstance(v, np.ndarray) and v.dtype == object and v.size == 1:
            v = v.reshape(-1)[0]
        out.append(str(v.reshape(-1)[0]) if isinstance(v, np.ndarray) and v.size == 1 else str(v).strip())
    return out


def _cubes(data: dict, path: Path) -> dict[int, np.ndarray]:
    """Character index -> its cube (trials, bins, electrodes) of whole counts; checks every cube."""
    cubes = {}
    for key in sorted(k for k in data if k.startswith(CUBE_PREFIX)):
        name = key[len(CUBE_PREFIX):]
        if name not in FILE_NAMES:
            raise fail(
                f"Import input file {path}: variable '{key}' names an unknown character '{name}'; the single_letters "
                f"layout knows {CUBE_PREFIX}<name> for name in {', '.join(FILE_NAMES)}."
            )
        cube = np.asarray(data[key])
        if cube.ndim != 3 or cube.shape[2] != N_ELECTRODES or cube.shape[1] <= CUBE_GO_BIN:
            raise fail(
                f"Import input file {path}: variable '{key}' has shape {shape_of(data[key])}; expected (trials, bins > "
                f"{CUBE_GO_BIN}, {N_ELECTRODES} electrodes) of threshold crossings in 10 ms bins."
            )
        if not np.issubdtype(cube.dtype, np.number) or not np.all(np.isfinite(cube)):
            raise fail(f"Import input file {path}: variable '{key}' holds non-numeric or non-finite values; expected counts.")
        if np.any(cube < 0) or np.any(np.abs(cube - np.round(cube)) > 1e-6):
            raise fail(f"Import input file {path}: variable '{key}' holds values that are not whole non-negative "
                       "threshold-crossing counts.")
        if cube.shape[0] < MIN_TRIALS_PER_CHARACTER:
            raise fail(
                f"Import input file {path}: variable '{key}' holds {cube.shape[0]} trial(s) of '{name}'; each character "
                f"is split into train / valid / test, so it needs at least {MIN_TRIALS_PER_CHARACTER} trials."
            )
        cubes[FILE_NAMES.index(name)] = np.round(cube).astype(np.float32)
    if not cubes:
        raise fail(f"Import input file {path} holds no '{CUBE_PREFIX}<character>' variables; it holds: "
                   f"{', '.join(sorted(data)) or 'nothing'}. Is it a singleLetters.mat file?")
    lengths = {c.shape[1] for c in cubes.values()}
    if len(lengths) > 1:
        raise fail(f"Import input file {path}: the character cubes have different numbers of bins {sorted(lengths)}.")
    return cubes


def _run_order(data: dict, cubes: dict[int, np.ndarray], path: Path) -> list[tuple[int, int]]:
    """(character, trial in its cube) in the order the trials were run."""
    if "characterCues" not in data:
        return [(c, i) for c in sorted(cubes) for i in range(cubes[c].shape[0])]
    cues = _cue_names(data["characterCues"])
    unknown = sorted({c for c in cues if c not in FILE_NAMES})
    if unknown:
        raise fail(f"Import input file {path}: variable 'characterCues' names unknown character(s) {unknown}; "
                   f"expected names among {', '.join(FILE_NAMES)}.")
    n_cued = {c: cues.count(FILE_NAMES[c]) for c in cubes}
    wrong = [f"{FILE_NAMES[c]}: {n_cued[c]} cues, {cubes[c].shape[0]} trials" for c in cubes if n_cued[c] != cubes[c].shape[0]]
    if wrong:
        raise fail(f"Import input file {path}: 'characterCues' does not match the cubes ({'; '.join(wrong)}); "
                   "each cue should be one trial of its character's cube.")
    seen = {c: 0 for c in cubes}
    order = []
    for name in cues:
        c = FILE_NAMES.index(name)
        if c in cubes:
            order.append((c, seen[c]))
            seen[c] += 1
    return order


def read_single_letters(path: str | Path, recording_id: str | None = None, subject_id: str = "t5",
                        brainset: str = "willett_handwriting_2021", split_seed: int = 42) -> Recording:
    """The recording of one singleLetters.mat (recording id: the day folder's name by default)."""
    path = Path(path)
    data = _load_mat(path)
    cubes = _cubes(data, path)
    trials = [LetterTrial(c, cubes[c][i], CUBE_GO_BIN) for c, i in _run_order(data, cubes, path)]
    rid = recording_id or path.parent.name or path.stem
    return letters_recording(trials, rid, subject_id, brainset, f"Import input file {path}", BIN_S,
                             [f"elec{i:03d}" for i in range(N_ELECTRODES)], split_seed)


__all__ = ["CHARACTERS", "N_ELECTRODES", "read_single_letters"]
