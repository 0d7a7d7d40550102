"""Import one recording from common array formats (.npz, .mat, .csv) into the HDF5 recording format.

The schema is documented in ``docs/import_schema.md``. In short, three layouts are understood:

- ``continuous``: ``counts`` (T bins x U units) at ``bin_size_s``, optional per-bin ``behaviour``
  (T x D, position or velocity), ``trial_id`` (T,), ``label`` (per bin or per trial), ``unit_ids``;
- ``trials``: ``trial_counts`` (N x U x T, or a list of U x T_i arrays), ``labels`` (N,), optional
  ``trial_split`` (train/test given by the file), ``trial_behaviour``; MATLAB struct arrays with one
  trial per element are read through ``trial_structs``;
- ``spikes``: ``spike_times`` (s) and ``spike_units``, optional ``behaviour_timestamps`` +
  ``behaviour``, ``trial_start`` / ``trial_end`` / ``labels`` / ``trial_split``.

Binned counts become spike times: the k spikes of a bin are placed at deterministic positions
inside it (evenly spaced by default), so re-binning at the original bin size gives back the counts
exactly. Binned trials are laid out on one timeline, each starting on a ``trial_align_s`` grid after a
gap of at least ``trial_gap_s``; behaviour is sampled at bin centres.

Entry points: :func:`import_arrays` (arrays in memory -> ``Recording``), :func:`import_file`
(spec -> one HDF5 file), :func:`import_from_spec` (spec -> files in a folder, for the CLI) and the
``import`` data source (:class:`ImportSource`), which caches its output under
``<cache_dir>/imported/<name>-<key>/``.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.data.intervals import Intervals
from bench.data.recording import TASK_TYPES, Behaviour, Recording, Trials, save_recording, split_trials
from bench.data.sources import DataSource, SourceParams, params_key
from bench.errors import DataError
from bench.registry import data_sources

IMPORTER_VERSION = "1"

LAYOUTS = ("continuous", "trials", "spikes")
FORMATS = ("npz", "mat", "csv")

# Canonical array names a file may provide (``fields`` maps them to the names used in the file).
CANONICAL_KEYS = (
    "counts",
    "behaviour",
    "trial_id",
    "label",
    "labels",
    "unit_ids",
    "trial_counts",
    "trial_lengths",
    "trial_behaviour",
    "trial_split",
    "trial_ids",
    "spike_times",
    "spike_units",
    "behaviour_timestamps",
    "trial_start",
    "trial_end",
)

_SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "test": "test",
    "testing": "test",
}

Column = int | str


# ----------------------------------------------------------------------------- the spec


class TrialStruct(BaseModel):
    """A MATLAB struct array whose elements are trials (e.g. ``train_trial``, 91 x 8)."""

    model_config = ConfigDict(extra="forbid")
    variable: str
    split: Literal["train", "valid", "test"] | None = None


class ImportSpec(SourceParams):
    """How to read one recording from a file (see docs/import_schema.md). Extra keys are refused."""

    recipe: str | None = Field(None, description="named layout (imperial_bmi, ee239as_center_out)")
    format: Literal["npz", "mat", "csv"] | None = Field(None, description="default: from the file extension")
    layout: Literal["continuous", "trials", "spikes"] | None = Field(None, description="default: from the keys")
    path: str | None = Field(None, description="the data file (recipes: the folder holding the files)")
    targets_path: str | None = Field(None, description="csv, continuous: per-bin targets file")
    behaviour_path: str | None = Field(None, description="csv, spikes: behaviour samples file")
    trials_path: str | None = Field(None, description="csv, spikes: one row per trial")
    fields: dict[str, str] = Field(default_factory=dict, description="canonical key -> name in the file")
    allow_pickle: bool = Field(False, description="npz: allow object arrays (lists of trials)")
    # csv column selection: an int is a 0-based position, a str a header name
    header: bool | None = Field(None, description="csv files have a header row (default: detect)")
    counts_columns: list[Column] | None = None
    behaviour_columns: list[Column] | None = Field(None, description="behaviour dims to keep (csv: columns)")
    label_column: Column | None = None
    trial_column: Column | None = None
    split_column: Column | None = None
    spike_time_column: Column = 0
    spike_unit_column: Column = 1
    behaviour_time_column: Column = 0
    trial_start_column: Column = 0
    trial_end_column: Column = 1
    # MATLAB struct arrays of trials
    trial_structs: list[TrialStruct] | None = None
    counts_field: str = "spikes"
    id_field: str | None = None
    label_field: str | None = None
    label_axis: int | None = Field(None, ge=0, description="label = 0-based index along this struct-array axis")
    behaviour_field: str | None = None
    # meaning of the arrays
    bin_size_s: float | None = Field(None, gt=0)
    transpose_counts: bool = Field(False, description="counts are stored the other way round")
    behaviour_kind: Literal["position", "velocity"] = "velocity"
    behaviour_name: Literal["hand", "cursor", "finger"] = "hand"
    label_offset: int = Field(0, description="subtracted from integer labels (1-8 -> 0-7 with 1)")
    spike_placement: Literal["even", "jitter"] = "even"
    seed: int = Field(0, description="seed of the jittered spike placement")
    trial_gap_s: float = Field(0.1, ge=0, description="binned trials: minimum gap between trials")
    trial_align_s: float = Field(0.1, ge=0, description="binned trials start on multiples of this (0: off)")
    split_seed: int = 42
    valid_fraction_of_train: float = Field(0.125, ge=0, lt=1)
    recording_id: str | None = None
    subject_id: str = "unknown"
    brainset: str = "imported"
    task_type: Literal["center_out", "random_target", "unknown"] | None = None

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(CANONICAL_KEYS))
        if unknown:
            raise ValueError(f"unknown canonical key(s) {unknown}; known: {', '.join(CANONICAL_KEYS)}")
        return v

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, v: str | None) -> str | None:
        if v is not None and v not in RECIPES:
            raise ValueError(f"unknown recipe '{v}'; known recipes: {', '.join(sorted(RECIPES))}")
        return v


class ImportParams(ImportSpec):
    """Parameters of the ``import`` data source: a recipe + path, or a generic spec with a path."""

    name: str | None = Field(None, description="name of the cache folder (default: recipe or file stem)")

    @model_validator(mode="after")
    def _need_path(self) -> "ImportParams":
        if not self.path:
            raise ValueError(
                "data source 'import' needs 'path': the data file, or for a recipe the folder holding its files"
            )
        return self


# ----------------------------------------------------------------------------- recipes

RECIPES: dict[str, dict[str, Any]] = {
    # Imperial College BMI coursework data: 98 units in 20 ms bins, 800 centre-out trials.
    "imperial_bmi": dict(
        format="csv",
        layout="continuous",
        path="monkey_features_300.csv",
        targets_path="monkey_targets_300.csv",
        header=False,
        bin_size_s=0.02,
        behaviour_columns=[0, 1],  # hand x, y (mm); z is dropped
        behaviour_kind="position",
        behaviour_name="hand",
        label_column=3,  # reach direction 1-8
        trial_column=4,  # trial number 1-800
        label_offset=1,  # stored target_id 0-7
        recording_id="imperial_bmi_monkey",
        subject_id="monkey",
        brainset="imperial_bmi",
        task_type="center_out",
    ),
    # UCLA EE239AS problem set 4: 97 units, 1 ms bins, 700 ms trials, train/test struct arrays 91 x 8.
    "ee239as_center_out": dict(
        format="mat",
        layout="trials",
        path="ps4_realdata.mat",
        trial_structs=[dict(variable="train_trial", split="train"), dict(variable="test_trial", split="test")],
        counts_field="spikes",  # 97 units x 700 bins
        id_field="trialId",
        label_axis=1,  # column index 0-7 = reach direction 1-8
        bin_size_s=0.001,
        recording_id="ee239as_center_out",
        subject_id="monkey",
        brainset="ee239as",
        task_type="center_out",
    ),
}

_PATH_FIELDS = ("path", "targets_path", "behaviour_path", "trials_path")


# ----------------------------------------------------------------------------- helpers


def _fail(msg: str) -> DataError:
    text = " ".join(msg.split())
    return DataError(text[:1].upper() + text[1:])


def _shape(a: Any) -> str:
    if isinstance(a, (list, tuple)):
        return f"a list of {len(a)}"
    return str(tuple(np.shape(a)))


def _validation_message(exc: ValidationError, what: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(spec)"
        parts.append(f"field '{loc}': {err.get('msg')}")
    return f"Invalid {what}: " + "; ".join(parts) + ". See docs/import_schema.md for the fields."


def validate_spec(spec: dict | ImportSpec, what: str = "import spec") -> ImportSpec:
    if isinstance(spec, ImportSpec):
        return spec
    if not isinstance(spec, dict):
        raise _fail(
            f"Invalid {what}: expected a mapping of fields (path, bin_size_s, ...), got {type(spec).__name__}. "
            "See docs/import_schema.md."
        )
    try:
        return ImportSpec(**spec)
    except ValidationError as exc:
        raise _fail(_validation_message(exc, what)) from None
    except TypeError as exc:
        raise _fail(f"Invalid {what}: {exc}.") from None


def _apply_recipe(spec: ImportSpec, resolve: Callable[[str], Path]) -> ImportSpec:
    """Merge a recipe under the fields the user set and make every path absolute."""
    user = spec.model_dump(exclude_unset=True)
    extra = {k: user.pop(k) for k in ("name",) if k in user}
    if spec.recipe:
        recipe = dict(RECIPES[spec.recipe])
        given = user.pop("path", None)
        if not given:
            raise _fail(f"Import recipe '{spec.recipe}' needs 'path': the folder that holds {recipe['path']}.")
        where = resolve(given)
        if not where.exists():
            wanted = ", ".join(Path(recipe[k]).name for k in _PATH_FIELDS if recipe.get(k))
            raise _fail(
                f"Import folder {where} does not exist (field 'path' of recipe '{spec.recipe}'); expected the "
                f"folder that holds {wanted}."
            )
        if where.is_file():
            folder, recipe["path"] = where.parent, str(where)
        else:
            folder = where
        for key in _PATH_FIELDS:
            if key in recipe and recipe[key] is not None:
                recipe[key] = str(folder / recipe[key])
        for key in _PATH_FIELDS:  # user-given extra paths resolve against the suite folder
            if user.get(key):
                user[key] = str(resolve(user[key]))
        merged = {**recipe, **user, "recipe": spec.recipe}
    else:
        merged = dict(user)
        for key in _PATH_FIELDS:
            if merged.get(key):
                merged[key] = str(resolve(merged[key]))
    merged.update(extra)
    try:
        return type(spec)(**merged)
    except ValidationError as exc:
        raise _fail(_validation_message(exc, f"import spec (recipe {spec.recipe})")) from None


def _input_files(spec: ImportSpec) -> list[tuple[str, Path]]:
    """(field, path) of every input file of a resolved spec; missing files raise DataError."""
    out = []
    if not spec.path:
        raise _fail("The import spec has no 'path': name the data file to import.")
    for key in _PATH_FIELDS:
        value = getattr(spec, key)
        if not value:
            continue
        p = Path(value)
        if not p.is_file():
            hint = " (a folder was given; name the data file)" if p.is_dir() else ""
            recipe = f" of recipe '{spec.recipe}'" if spec.recipe else ""
            raise _fail(f"Import input file {p} does not exist{hint} (field '{key}'{recipe}).")
        out.append((key, p))
    return out


def _fingerprint(files: list[tuple[str, Path]]) -> list:
    fp = []
    for key, p in files:
        st = p.stat()
        fp.append([key, str(p), st.st_size, st.st_mtime_ns])
    return fp


def _format_of(spec: ImportSpec) -> str:
    if spec.format:
        return spec.format
    suffix = Path(spec.path or "").suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise _fail(
        f"Cannot tell the format of {spec.path} from its extension '.{suffix}' (field 'format'): "
        "set format to one of npz, mat, csv."
    )


@dataclass
class _Names:
    """Where each canonical array came from, for error messages."""

    where: str
    names: dict[str, str]

    def __call__(self, key: str) -> str:
        return f"{self.names.get(key, repr(key))} in {self.where}"


# ----------------------------------------------------------------------------- readers


def _fields_lookup(spec: ImportSpec, available: list[str]) -> dict[str, str]:
    """Canonical key -> file key for the keys present (explicit ``fields`` must exist)."""
    out = {}
    for key in CANONICAL_KEYS:
        name = spec.fields.get(key, key)
        if name in available or (key in spec.fields):
            out[key] = name
    return out


def read_npz(spec: ImportSpec) -> tuple[dict, _Names]:
    path = Path(spec.path)
    try:
        npz = np.load(path, allow_pickle=spec.allow_pickle)
    except Exception as exc:
        raise _fail(f"Import input file {path} (field 'path') is not a readable .npz file ({exc}).") from None
    if not hasattr(npz, "files"):
        raise _fail(f"Import input file {path} (field 'path') holds a single array, not an .npz archive of named arrays.")
    arrays, names = {}, {}
    with npz:
        for key, name in _fields_lookup(spec, list(npz.files)).items():
            if name not in npz.files:
                raise _fail(
                    f"Import input file {path} has no array '{name}' (fields.{key}); it holds: "
                    f"{', '.join(npz.files) or 'nothing'}."
                )
            try:
                arrays[key] = npz[name]
            except ValueError:
                raise _fail(
                    f"Array '{name}' in {path} is an object array (e.g. a list of trials of different "
                    "lengths); loading it needs allow_pickle: true (only for files you trust), or store "
                    "the trials padded to N x U x T_max with a 'trial_lengths' array."
                ) from None
            names[key] = f"array '{name}'"
    return arrays, _Names(str(path), names)


def _mat_struct_to_objects(a: np.ndarray) -> np.ndarray:
    """A MATLAB v5 struct array (structured ndarray) as an object array of field dicts."""
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        rec = a[idx]
        out[idx] = {name: rec[name] for name in a.dtype.names}
    return out


def _mat_value(v: Any) -> Any:
    """Normalise a loadmat value: struct arrays -> object arrays of dicts, cells -> object arrays."""
    if isinstance(v, np.ndarray) and v.dtype.names:
        objs = _mat_struct_to_objects(v)
        return {k: _mat_value(x) for k, x in objs.flat[0].items()} if objs.size == 1 else objs
    return v


def _h5_to_py(obj, f) -> Any:
    """A MATLAB v7.3 (HDF5) object as numpy data (arrays transposed back to MATLAB order)."""
    import h5py

    cls = obj.attrs.get("MATLAB_class", b"")
    cls = cls.decode() if isinstance(cls, bytes) else str(cls)
    if isinstance(obj, h5py.Group):
        keys = [k for k in obj.keys() if not k.startswith("#")]
        fields = {k: obj[k] for k in keys}
        refs = [d for d in fields.values() if isinstance(d, h5py.Dataset) and d.dtype == h5py.ref_dtype]
        if fields and len(refs) == len(fields) and len({d.shape for d in refs}) == 1 and refs[0].size > 1:
            shape = refs[0].shape[::-1]
            out = np.empty(shape, dtype=object)
            for idx in np.ndindex(shape):
                out[idx] = {k: _h5_to_py(f[d[idx[::-1]]], f) for k, d in fields.items()}
            return out
        return {k: _h5_to_py(d, f) for k, d in fields.items()}
    if obj.attrs.get("MATLAB_empty", 0):
        return np.zeros((0, 0))
    data = obj[()]
    if obj.dtype == h5py.ref_dtype:
        out = np.empty(data.shape[::-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = _h5_to_py(f[data[idx[::-1]]], f)
        return out
    if cls == "char":
        return "".join(chr(c) for c in np.asarray(data).reshape(-1))
    data = np.asarray(data)
    return data.T if data.ndim >= 2 else data


def _load_mat(path: Path) -> dict:
    import h5py
    import scipy.io

    if not h5py.is_hdf5(path):  # MATLAB v4-v7; v7.3 files are HDF5
        try:
            raw = scipy.io.loadmat(path, squeeze_me=False)
        except Exception as exc:
            raise _fail(f"Import input file {path} (field 'path') is not a readable MATLAB .mat file ({exc}).") from None
        return {k: _mat_value(v) for k, v in raw.items() if not k.startswith("__")}
    try:
        with h5py.File(path, "r") as f:
            return {k: _h5_to_py(f[k], f) for k in f.keys() if not k.startswith("#")}
    except Exception as exc:
        raise _fail(f"Import input file {path} (field 'path') is a MATLAB v7.3 file that could not be read ({exc}).") from None


def _dig(container: dict, dotted: str) -> tuple[bool, Any]:
    """Look up 'a.b.c' through nested scalar structs."""
    cur: Any = container
    for part in dotted.split("."):
        if isinstance(cur, np.ndarray) and cur.dtype == object and cur.size == 1 and isinstance(cur.flat[0], dict):
            cur = cur.flat[0]
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def _scalar(v: Any) -> Any:
    a = np.asarray(v)
    if a.size != 1:
        raise ValueError(f"expected a single value, got shape {a.shape}")
    x = a.reshape(-1)[0]
    return x.item() if hasattr(x, "item") else x


def read_mat(spec: ImportSpec) -> tuple[dict, _Names]:
    path = Path(spec.path)
    data = _load_mat(path)
    if spec.trial_structs:
        return _read_mat_structs(spec, data, path)
    arrays, names = {}, {}
    for key in CANONICAL_KEYS:
        name = spec.fields.get(key, key)
        found, value = _dig(data, name)
        if found:
            arrays[key] = value
            names[key] = f"variable '{name}'"
        elif key in spec.fields:
            raise _fail(
                f"Import input file {path} has no variable '{name}' (fields.{key}); it holds: "
                f"{', '.join(sorted(data)) or 'nothing'}."
            )
    return arrays, _Names(str(path), names)


def _read_mat_structs(spec: ImportSpec, data: dict, path: Path) -> tuple[dict, _Names]:
    counts, labels, splits, ids, behaviour = [], [], [], [], []
    for ts in spec.trial_structs or []:
        if ts.variable not in data:
            raise _fail(
                f"Import input file {path} has no variable '{ts.variable}' (trial_structs); it holds: "
                f"{', '.join(sorted(data)) or 'nothing'}."
            )
        arr = data[ts.variable]
        if isinstance(arr, dict):
            arr = np.array([arr], dtype=object)
        if not (isinstance(arr, np.ndarray) and arr.dtype == object and arr.size and isinstance(arr.flat[0], dict)):
            raise _fail(
                f"Variable '{ts.variable}' in {path} (trial_structs) is not a struct array: expected one "
                f"struct per trial with a field '{spec.counts_field}', got {_shape(arr)} of {getattr(arr, 'dtype', type(arr))}."
            )
        if spec.label_axis is not None and spec.label_axis >= arr.ndim:
            raise _fail(
                f"label_axis {spec.label_axis} is out of range for struct array '{ts.variable}' of shape "
                f"{arr.shape} in {path}."
            )
        for idx in np.ndindex(arr.shape):
            el = arr[idx]
            where = f"{ts.variable}{tuple(i + 1 for i in idx)} in {path}"
            for fname in (spec.counts_field, spec.id_field, spec.label_field, spec.behaviour_field):
                if fname and fname not in el:
                    raise _fail(f"Struct element {where} has no field '{fname}'; its fields are {', '.join(el)}.")
            c = np.asarray(el[spec.counts_field])
            if c.size == 0:
                continue  # empty element: no trial recorded there
            counts.append(c)
            try:
                if spec.label_field:
                    labels.append(_scalar(el[spec.label_field]))
                elif spec.label_axis is not None:
                    labels.append(idx[spec.label_axis])
                if spec.id_field:
                    ids.append(_scalar(el[spec.id_field]))
            except ValueError as exc:
                raise _fail(f"Struct element {where}: field '{spec.label_field or spec.id_field}' {exc}.") from None
            if spec.behaviour_field:
                behaviour.append(np.asarray(el[spec.behaviour_field], dtype=float))
            splits.append(ts.split or "")
    if not counts:
        raise _fail(f"The struct arrays {[t.variable for t in spec.trial_structs]} in {path} hold no trials.")
    order = np.arange(len(counts))
    if ids:
        order = np.argsort(np.asarray(ids, dtype=float), kind="stable")  # chronological by trial id
    pick = lambda xs: [xs[i] for i in order]  # noqa: E731
    arrays: dict[str, Any] = {"trial_counts": pick(counts)}
    names = {"trial_counts": f"field '{spec.counts_field}' of the struct arrays"}
    if labels:
        arrays["labels"] = np.asarray(pick(labels))
        names["labels"] = f"field '{spec.label_field}'" if spec.label_field else f"struct-array axis {spec.label_axis}"
    if any(splits):
        if not all(splits):
            raise _fail(f"Every entry of trial_structs in the spec for {path} needs a split once one has one.")
        arrays["trial_split"] = np.asarray(pick(splits))
        names["trial_split"] = "trial_structs[].split"
    if ids:
        arrays["trial_ids"] = np.asarray(pick(ids))
    if behaviour:
        arrays["trial_behaviour"] = pick(behaviour)
        names["trial_behaviour"] = f"field '{spec.behaviour_field}'"
    return arrays, _Names(str(path), names)


def _csv_has_header(path: Path) -> bool:
    with open(path, newline="") as fh:
        first = fh.readline()
    for tok in first.strip().split(","):
        tok = tok.strip().strip('"')
        if not tok:
            continue
        try:
            float(tok)
        except ValueError:
            return True
    return False


def _read_table(path: Path, header: bool | None, field: str):
    import pandas as pd

    has_header = _csv_has_header(path) if header is None else header
    try:
        return pd.read_csv(path, header=0 if has_header else None)
    except Exception as exc:
        raise _fail(f"Import input file {path} (field '{field}') is not a readable CSV file ({exc}).") from None


def _columns(df, cols: list[Column] | None, path: Path, field: str, numeric: bool = True) -> tuple[np.ndarray, list[str]]:
    """Select columns by 0-based position (int) or header name (str)."""
    if cols is None:
        cols = list(range(df.shape[1]))
    picked, labels = [], []
    for c in cols:
        if isinstance(c, int) and not isinstance(c, bool):
            if not 0 <= c < df.shape[1]:
                raise _fail(
                    f"Column {c} ({field}) is out of range for {path}, which has {df.shape[1]} columns "
                    "(positions are 0-based)."
                )
            picked.append(df.iloc[:, c])
            labels.append(f"column {c}")
        else:
            if c not in df.columns:
                raise _fail(
                    f"{path} has no column named '{c}' ({field}); its columns are "
                    f"{', '.join(map(str, df.columns[:20]))}{' ...' if df.shape[1] > 20 else ''}."
                )
            picked.append(df[c])
            labels.append(f"column '{c}'")
    if not picked:
        return np.zeros((df.shape[0], 0)), labels
    if not numeric:
        return np.stack([p.to_numpy() for p in picked], axis=1), labels
    try:
        out = np.stack([p.to_numpy(dtype=float) for p in picked], axis=1)
    except (ValueError, TypeError):
        bad = next(lab for p, lab in zip(picked, labels) if not _is_numeric(p))
        raise _fail(f"{bad} of {path} ({field}) holds non-numeric values; expected numbers.") from None
    return out, labels


def _is_numeric(series) -> bool:
    try:
        series.to_numpy(dtype=float)
        return True
    except (ValueError, TypeError):
        return False


def read_csv(spec: ImportSpec) -> tuple[dict, _Names]:
    layout = spec.layout or "continuous"
    path = Path(spec.path)
    arrays: dict[str, Any] = {}
    names: dict[str, str] = {}
    if layout == "trials":
        raise _fail("CSV import supports the 'continuous' and 'spikes' layouts, not 'trials' (field 'layout').")
    if layout == "continuous":
        df = _read_table(path, spec.header, "path")
        arrays["counts"], _ = _columns(df, spec.counts_columns, path, "counts_columns")
        names["counts"] = f"the count columns of {path.name}"
        if spec.targets_path:
            tpath = Path(spec.targets_path)
            tdf = _read_table(tpath, spec.header, "targets_path")
            if tdf.shape[0] != df.shape[0]:
                raise _fail(
                    f"Targets file {tpath} (field 'targets_path') has {tdf.shape[0]} rows but the counts file "
                    f"{path} has {df.shape[0]}; expected one row per bin in both."
                )
            if spec.behaviour_columns:
                arrays["behaviour"], labs = _columns(tdf, spec.behaviour_columns, tpath, "behaviour_columns")
                names["behaviour"] = f"{', '.join(labs)} of {tpath.name}"
            for key, col, fld in (
                ("label", spec.label_column, "label_column"),
                ("trial_id", spec.trial_column, "trial_column"),
                ("trial_split", spec.split_column, "split_column"),
            ):
                if col is not None:
                    vals, labs = _columns(tdf, [col], tpath, fld, numeric=key != "trial_split")
                    arrays[key] = vals[:, 0]
                    names[key] = f"{labs[0]} of {tpath.name}"
        elif spec.behaviour_columns or spec.label_column is not None or spec.trial_column is not None:
            raise _fail(
                "behaviour_columns / label_column / trial_column select columns of the targets file, but the "
                "spec has no 'targets_path'."
            )
    else:  # spikes
        df = _read_table(path, spec.header, "path")
        vals, labs = _columns(df, [spec.spike_time_column, spec.spike_unit_column], path, "spike_time_column / spike_unit_column")
        arrays["spike_times"], arrays["spike_units"] = vals[:, 0], vals[:, 1]
        names["spike_times"], names["spike_units"] = (f"{lab} of {path.name}" for lab in labs)
        if spec.behaviour_path:
            bpath = Path(spec.behaviour_path)
            bdf = _read_table(bpath, spec.header, "behaviour_path")
            t, _ = _columns(bdf, [spec.behaviour_time_column], bpath, "behaviour_time_column")
            cols = spec.behaviour_columns
            if cols is None:
                tc = spec.behaviour_time_column
                cols = [i for i in range(bdf.shape[1]) if i != tc and bdf.columns[i] != tc]
            arrays["behaviour_timestamps"] = t[:, 0]
            arrays["behaviour"], labs = _columns(bdf, cols, bpath, "behaviour_columns")
            names["behaviour"] = f"{', '.join(labs)} of {bpath.name}"
            names["behaviour_timestamps"] = f"the time column of {bpath.name}"
        if spec.trials_path:
            tpath = Path(spec.trials_path)
            tdf = _read_table(tpath, spec.header, "trials_path")
            se, labs = _columns(tdf, [spec.trial_start_column, spec.trial_end_column], tpath, "trial_start_column / trial_end_column")
            arrays["trial_start"], arrays["trial_end"] = se[:, 0], se[:, 1]
            names["trial_start"], names["trial_end"] = (f"{lab} of {tpath.name}" for lab in labs)
            for key, col, fld in (("labels", spec.label_column, "label_column"), ("trial_split", spec.split_column, "split_column")):
                if col is not None:
                    vals, labs = _columns(tdf, [col], tpath, fld, numeric=key != "trial_split")
                    arrays[key] = vals[:, 0]
                    names[key] = f"{labs[0]} of {tpath.name}"
    return arrays, _Names(str(path), names)


READERS: dict[str, Callable[[ImportSpec], tuple[dict, _Names]]] = {"npz": read_npz, "mat": read_mat, "csv": read_csv}


# ----------------------------------------------------------------------------- array checks


def _vector(arrays: dict, key: str, n: int | None, names: _Names, expected: str) -> np.ndarray:
    a = np.asarray(arrays[key])
    if a.ndim > 1 and sum(s > 1 for s in a.shape) <= 1:
        a = a.reshape(-1)  # MATLAB row / column vectors
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        raise _fail(f"{names(key)} has shape {_shape(arrays[key])}; expected {expected}.")
    return a


def _numeric(a: np.ndarray, key: str, names: _Names) -> np.ndarray:
    try:
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(f"{names(key)} holds non-numeric values (dtype {np.asarray(a).dtype}); expected numbers.") from None


def _check_counts(c: np.ndarray, key: str, names: _Names) -> np.ndarray:
    """Whole, non-negative counts, returned in a compact integer dtype (uint8 stays uint8)."""
    a = np.asarray(c)
    if a.dtype.kind == "u":
        return a
    if a.dtype.kind == "i":
        if a.size and a.min() < 0:
            pos = tuple(int(i) for i in np.argwhere(a < 0)[0])
            raise _fail(f"{names(key)} must hold whole, non-negative spike counts; found {a[pos]} at index {pos}.")
        return a
    f = _numeric(a, key, names)
    bad = ~np.isfinite(f) | (f < 0) | (f != np.round(f))
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise _fail(
            f"{names(key)} must hold whole, non-negative spike counts; found {f[pos]:g} at index {pos}."
        )
    if f.size and f.max() >= 2**31:
        raise _fail(f"{names(key)} holds a count of {f.max():.0f}; that is not a spike count of one bin.")
    return f.astype(np.int32)


def _check_finite(a: np.ndarray, key: str, names: _Names) -> np.ndarray:
    f = _numeric(a, key, names)
    if not np.isfinite(f).all():
        pos = tuple(int(i) for i in np.argwhere(~np.isfinite(f))[0])
        raise _fail(
            f"{names(key)} has a non-finite value ({f[pos]}) at index {pos}; fill or drop missing samples "
            "before importing."
        )
    return f


def _labels(raw: np.ndarray, offset: int, key: str, names: _Names) -> np.ndarray:
    """Integer labels minus ``offset``; NaN -> -1 (unknown); non-numeric labels -> sorted class index."""
    a = np.asarray(raw)
    if a.dtype.kind in "biuf":
        f = a.astype(np.float64)
        known = np.isfinite(f)
        if np.any(f[known] != np.round(f[known])):
            raise _fail(f"{names(key)} holds non-integer labels (e.g. {f[known][f[known] != np.round(f[known])][0]}); expected class numbers.")
        out = np.full(f.shape, -1, np.int64)
        out[known] = f[known].astype(np.int64) - offset
        if (out[known] < 0).any():
            raise _fail(
                f"{names(key)} holds label {int(f[known].min())}, below label_offset {offset}; labels minus "
                "label_offset must be >= 0 (-1 marks an unknown label)."
            )
        return out
    text = np.array([str(x) for x in a.reshape(-1)]).reshape(a.shape)
    classes = np.unique(text)
    return np.searchsorted(classes, text).astype(np.int64)


def _split_codes(raw: np.ndarray, key: str, names: _Names) -> np.ndarray:
    """'train' / 'valid' / 'test' per entry (strings, or booleans / 0-1 where 1 = test)."""
    a = np.asarray(raw)
    if a.dtype.kind in "biuf":
        f = a.astype(np.float64)
        if not np.isin(f, [0, 1]).all():
            raise _fail(f"{names(key)} holds numbers other than 0 (train) and 1 (test); use 0/1 or the strings train/valid/test.")
        return np.where(f == 1, "test", "train")
    out = []
    for x in a.reshape(-1):
        s = (x.decode() if isinstance(x, bytes) else str(x)).strip().lower()
        if s not in _SPLIT_NAMES:
            raise _fail(f"{names(key)} holds '{s}'; expected train, valid or test.")
        out.append(_SPLIT_NAMES[s])
    return np.array(out)


def _per_trial(values: np.ndarray, seg_of_bin: np.ndarray, n_trials: int, key: str, names: _Names) -> np.ndarray:
    """Per-bin values constant within each trial -> one value per trial (or pass per-trial through)."""
    if values.shape[0] == seg_of_bin.shape[0]:
        first = np.searchsorted(seg_of_bin, np.arange(n_trials))
        per = values[first]
        if np.any(values != per[seg_of_bin]):
            bad = int(np.flatnonzero(values != per[seg_of_bin])[0])
            raise _fail(f"{names(key)} changes inside a trial (at row {bad}); expected one value per trial.")
        return per
    if values.shape[0] == n_trials:
        return values
    raise _fail(
        f"{names(key)} has {values.shape[0]} entries; expected one per bin ({seg_of_bin.shape[0]}) or "
        f"one per trial ({n_trials})."
    )


# ----------------------------------------------------------------------------- building recordings


def _counts_to_spikes(
    counts: np.ndarray, bin_index: np.ndarray, bin_s: float, placement: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spike times for counts (n_bins, U) whose rows sit at global bin indices ``bin_index``.

    The k spikes of a bin go to the centres of k equal sub-slots ('even') or to a seeded uniform
    position inside each sub-slot ('jitter'); either way every spike stays inside its bin.
    """
    rows, cols = np.nonzero(counts)
    k = counts[rows, cols].astype(np.int64)
    total = int(k.sum())
    rep = np.repeat(np.arange(k.size), k)
    j = np.arange(total) - np.repeat(np.cumsum(k) - k, k)
    if placement == "even":
        offset = 0.5
    else:
        offset = np.random.default_rng(seed).uniform(0.02, 0.98, total)
    frac = (j + offset) / k[rep]
    times = (bin_index[rows[rep]].astype(np.float64) + frac) * bin_s
    units = cols[rep].astype(np.int64)
    order = np.argsort(times, kind="stable")
    return times[order], units[order]


def _velocity_from_position(pos: np.ndarray, dt: float | np.ndarray) -> np.ndarray:
    """Backward difference v[i] = (p[i] - p[i-1]) / dt within one segment; v[0] copies v[1]."""
    v = np.zeros_like(pos)
    if pos.shape[0] >= 2:
        dt_arr = np.asarray(dt, dtype=np.float64)
        step = dt_arr if dt_arr.ndim == 0 else dt_arr[:, None]
        v[1:] = np.diff(pos, axis=0) / step
        v[0] = v[1]
    return v


def _select_dims(beh: np.ndarray, spec: ImportSpec, key: str, names: _Names, already_selected: bool) -> np.ndarray:
    if already_selected or spec.behaviour_columns is None:
        return beh
    dims = spec.behaviour_columns
    if any(not isinstance(d, int) for d in dims):
        raise _fail(f"behaviour_columns {dims} must be integer dims for {names(key)} (names only work for CSV headers).")
    if any(not 0 <= d < beh.shape[1] for d in dims):
        raise _fail(f"behaviour_columns {dims} are out of range for {names(key)}, which has {beh.shape[1]} dims.")
    return beh[:, dims]


def _make_splits(trials: Trials, given: np.ndarray | None, spec: ImportSpec) -> dict[str, Intervals]:
    if given is None:
        return split_trials(trials, seed=spec.split_seed)
    test = np.flatnonzero(given == "test")
    valid = np.flatnonzero(given == "valid")
    train = np.flatnonzero(given == "train")
    if valid.size == 0 and train.size:
        rng = np.random.default_rng(spec.split_seed)
        n_valid = int(round(spec.valid_fraction_of_train * train.size))
        pick = np.sort(rng.choice(train, size=n_valid, replace=False))
        valid = pick
        train = np.setdiff1d(train, pick)
    return {k: Intervals(trials.start[v], trials.end[v]) for k, v in (("train", train), ("valid", valid), ("test", test))}


def _block_splits(start: float, end: float, step: float | None) -> dict[str, Intervals]:
    """No trials: contiguous 70/10/20 blocks of the domain (boundaries on the bin grid if binned)."""
    def cut(frac: float) -> float:
        t = start + frac * (end - start)
        return start + round((t - start) / step) * step if step else t

    a, b = cut(0.7), cut(0.8)
    return {"train": Intervals.single(start, a), "valid": Intervals.single(a, b), "test": Intervals.single(b, end)}


def _task_type(spec: ImportSpec, has_trials: bool, has_behaviour: bool) -> str:
    if spec.task_type:
        return spec.task_type
    if has_trials:
        return "center_out"
    return "random_target" if has_behaviour else "unknown"


def _unit_ids(arrays: dict, n_units: int, names: _Names) -> np.ndarray:
    if "unit_ids" not in arrays:
        return np.array([f"unit_{i:03d}" for i in range(n_units)])
    ids = _vector(arrays, "unit_ids", n_units, names, f"({n_units},) = one id per unit")
    ids = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in ids])
    if np.unique(ids).size != ids.size:
        raise _fail(f"{names('unit_ids')} holds duplicate unit ids; expected one distinct id per unit.")
    return ids


def _build_binned(
    arrays: dict,
    segments: list[np.ndarray],
    seg_behaviour: list[np.ndarray] | None,
    labels: np.ndarray | None,
    given_split: np.ndarray | None,
    has_trials: bool,
    spec: ImportSpec,
    names: _Names,
) -> Recording:
    b = float(spec.bin_size_s)
    n_units = segments[0].shape[1]
    gap_bins = int(math.ceil(spec.trial_gap_s / b - 1e-9)) if has_trials else 0
    align_bins = 1
    if has_trials and spec.trial_align_s > 0:
        align_bins = int(round(spec.trial_align_s / b))
        if align_bins < 1 or abs(align_bins * b - spec.trial_align_s) > 1e-9 * max(1.0, spec.trial_align_s):
            raise _fail(
                f"trial_align_s {spec.trial_align_s} is not a whole number of bins of {b} s; use a multiple of "
                "bin_size_s, or 0 to switch alignment off."
            )
    starts, cursor = [], 0
    for seg in segments:
        cursor = int(math.ceil(cursor / align_bins)) * align_bins
        starts.append(cursor)
        cursor += seg.shape[0] + gap_bins
    starts_arr = np.asarray(starts, np.int64)
    lengths = np.array([s.shape[0] for s in segments], np.int64)
    bin_index = np.concatenate([s0 + np.arange(n) for s0, n in zip(starts_arr, lengths)])
    counts = np.concatenate(segments, axis=0)
    spike_times, spike_units = _counts_to_spikes(counts, bin_index, b, spec.spike_placement, spec.seed)
    if spike_times.size == 0:
        raise _fail(f"{names('counts' if 'counts' in arrays else 'trial_counts')} holds no spikes at all.")

    seg_start = starts_arr * b
    seg_end = (starts_arr + lengths) * b
    domain = Intervals(seg_start, seg_end).merged()

    behaviour = None
    kin_start = seg_start.copy()
    if seg_behaviour is not None:
        centres = (bin_index + 0.5) * b
        pos_all = np.concatenate(seg_behaviour, axis=0)
        if spec.behaviour_kind == "position":
            vel = np.concatenate([_velocity_from_position(p, b) for p in seg_behaviour], axis=0)
            behaviour = Behaviour(spec.behaviour_name, centres, vel, pos_all)
            kin_start = seg_start + np.where(lengths >= 2, b, 0.0)  # first bin has no backward difference
        else:
            behaviour = Behaviour(spec.behaviour_name, centres, pos_all, None)

    trials = None
    phases: dict[str, Intervals] = {}
    if has_trials:
        target = labels if labels is not None else np.full(len(segments), -1, np.int64)
        trials = Trials(seg_start, seg_end, target.astype(np.int64), np.ones(len(segments), bool))
        splits = _make_splits(trials, given_split, spec)
        if behaviour is not None:
            phases["reach_period"] = Intervals(kin_start, seg_end)
    else:
        splits = _block_splits(float(seg_start[0]), float(seg_end[-1]), b)
        if behaviour is not None:
            phases["random_period"] = Intervals(kin_start, seg_end)

    return Recording(
        recording_id=spec.recording_id or Path(spec.path or "imported").stem,
        subject_id=spec.subject_id,
        brainset=spec.brainset,
        task_type=_task_type(spec, has_trials, behaviour is not None),
        domain=domain,
        spike_times=spike_times,
        spike_units=spike_units,
        unit_ids=_unit_ids(arrays, n_units, names),
        behaviour=behaviour,
        trials=trials,
        phases=phases,
        splits=splits,
    )


def _need_bin_size(spec: ImportSpec, names: _Names) -> None:
    if spec.bin_size_s is None:
        raise _fail(f"Binned counts in {names.where} need 'bin_size_s' (the bin width in seconds) in the spec.")


def _import_continuous(arrays: dict, spec: ImportSpec, names: _Names, behaviour_selected: bool) -> Recording:
    _need_bin_size(spec, names)
    raw = arrays["counts"]
    c = np.asarray(raw)
    if c.ndim != 2:
        raise _fail(f"{names('counts')} has shape {_shape(raw)}; expected 2-D (T bins, U units).")
    if spec.transpose_counts:
        c = c.T
    counts = _check_counts(c, "counts", names)
    T = counts.shape[0]
    if T == 0 or counts.shape[1] == 0:
        raise _fail(f"{names('counts')} has shape {_shape(raw)}; expected at least one bin and one unit.")

    beh = None
    if arrays.get("behaviour") is not None:
        bb = np.asarray(arrays["behaviour"])
        if bb.ndim == 1:
            bb = bb[:, None]
        if bb.ndim != 2 or bb.shape[0] != T:
            raise _fail(f"{names('behaviour')} has shape {_shape(arrays['behaviour'])}; expected ({T}, D): one row per bin of counts.")
        beh = _select_dims(_check_finite(bb, "behaviour", names), spec, "behaviour", names, behaviour_selected)

    label_key = "label" if "label" in arrays else ("labels" if "labels" in arrays else None)
    if "trial_id" not in arrays:
        if label_key or "trial_split" in arrays:
            raise _fail(
                f"{names(label_key or 'trial_split')} is given but there is no per-bin 'trial_id' in "
                f"{names.where}; labels and splits need trials."
            )
        segs = [counts]
        seg_beh = [beh] if beh is not None else None
        return _build_binned(arrays, segs, seg_beh, None, None, False, spec, names)

    tid = _vector(arrays, "trial_id", T, names, f"({T},): one trial id per bin")
    change = np.flatnonzero(tid[1:] != tid[:-1]) + 1
    bounds = np.concatenate([[0], change, [T]])
    run_ids = tid[bounds[:-1]]
    if np.unique(run_ids).size != run_ids.size:
        raise _fail(
            f"{names('trial_id')}: the bins of a trial must be consecutive, but some trial id appears in "
            "two separate runs of rows."
        )
    n = run_ids.size
    seg_of_bin = np.repeat(np.arange(n), np.diff(bounds))
    segs = [counts[a:z] for a, z in zip(bounds[:-1], bounds[1:])]
    seg_beh = [beh[a:z] for a, z in zip(bounds[:-1], bounds[1:])] if beh is not None else None
    labels = None
    if label_key:
        lab = _vector(arrays, label_key, None, names, f"({T},) per bin or ({n},) per trial")
        labels = _per_trial(_labels(lab, spec.label_offset, label_key, names), seg_of_bin, n, label_key, names)
    split = None
    if "trial_split" in arrays:
        sp = _vector(arrays, "trial_split", None, names, f"({T},) per bin or ({n},) per trial")
        split = _per_trial(_split_codes(sp, "trial_split", names), seg_of_bin, n, "trial_split", names)
    return _build_binned(arrays, segs, seg_beh, labels, split, True, spec, names)


def _import_trials(arrays: dict, spec: ImportSpec, names: _Names, behaviour_selected: bool) -> Recording:
    _need_bin_size(spec, names)
    raw = arrays["trial_counts"]
    if isinstance(raw, np.ndarray) and raw.dtype == object:
        raw = list(raw.reshape(-1))
    if isinstance(raw, (list, tuple)):
        trials = [np.asarray(x) for x in raw]
        for i, t in enumerate(trials):
            if t.ndim != 2:
                raise _fail(f"{names('trial_counts')}: trial {i} has shape {t.shape}; expected 2-D (U units, T_i bins).")
    else:
        arr = np.asarray(raw)
        if arr.ndim != 3:
            raise _fail(f"{names('trial_counts')} has shape {_shape(raw)}; expected (N trials, U units, T bins) or a list of (U, T_i) arrays.")
        trials = list(arr)
    n = len(trials)
    if n == 0:
        raise _fail(f"{names('trial_counts')} holds no trials.")
    if spec.transpose_counts:
        trials = [t.T for t in trials]  # each (T_i, U) now read as (U, T_i)
    if "trial_lengths" in arrays:
        tl = _vector(arrays, "trial_lengths", n, names, f"({n},): the number of valid bins of each trial")
        tl = _check_counts(tl, "trial_lengths", names)
        for i, (t, L) in enumerate(zip(trials, tl)):
            if L > t.shape[1]:
                raise _fail(f"{names('trial_lengths')}: trial {i} has length {L} but only {t.shape[1]} bins.")
        trials = [t[:, :L] for t, L in zip(trials, tl)]
    n_units = trials[0].shape[0]
    for i, t in enumerate(trials):
        if t.shape[0] != n_units:
            raise _fail(
                f"{names('trial_counts')}: trial {i} has {t.shape[0]} units but trial 0 has {n_units}; expected "
                "(U units, T_i bins) with the same U in every trial (set transpose_counts if stored as T x U)."
            )
        if t.shape[1] == 0:
            raise _fail(f"{names('trial_counts')}: trial {i} has no bins.")
    segs = [_check_counts(t, "trial_counts", names).T for t in trials]  # (T_i, U)

    seg_beh = None
    if arrays.get("trial_behaviour") is not None:
        rb = arrays["trial_behaviour"]
        if isinstance(rb, np.ndarray) and rb.dtype == object:
            rb = list(rb.reshape(-1))
        rb = list(rb) if isinstance(rb, (list, tuple)) or np.ndim(rb) == 3 else None
        if rb is None or len(rb) != n:
            raise _fail(f"{names('trial_behaviour')} has shape {_shape(arrays['trial_behaviour'])}; expected ({n}, D, T) or a list of {n} (D, T_i) arrays.")
        seg_beh = []
        for i, (x, s) in enumerate(zip(rb, segs)):
            x = _check_finite(np.asarray(x), "trial_behaviour", names)
            if x.ndim == 1 and x.shape[0] == s.shape[0]:
                x = x[:, None]
            elif x.ndim == 2 and x.shape[1] == s.shape[0]:
                x = x.T
            elif not (x.ndim == 2 and x.shape[0] == s.shape[0]):
                raise _fail(f"{names('trial_behaviour')}: trial {i} has shape {x.shape}; expected (D, {s.shape[0]}) to match its {s.shape[0]} bins of counts.")
            seg_beh.append(_select_dims(x, spec, "trial_behaviour", names, behaviour_selected))

    label_key = "labels" if "labels" in arrays else ("label" if "label" in arrays else None)
    labels = None
    if label_key:
        lab = _vector(arrays, label_key, n, names, f"({n},): one label per trial")
        labels = _labels(lab, spec.label_offset, label_key, names)
    split = None
    if "trial_split" in arrays:
        split = _split_codes(_vector(arrays, "trial_split", n, names, f"({n},): one split per trial"), "trial_split", names)
    return _build_binned(arrays, segs, seg_beh, labels, split, True, spec, names)


def _import_spikes(arrays: dict, spec: ImportSpec, names: _Names, behaviour_selected: bool) -> Recording:
    t = _check_finite(_vector(arrays, "spike_times", None, names, "(S,): one time (s) per spike"), "spike_times", names)
    if "spike_units" not in arrays:
        raise _fail(f"The spikes layout needs 'spike_units' next to {names('spike_times')}: one unit per spike.")
    u = _check_counts(_vector(arrays, "spike_units", t.size, names, f"({t.size},): one unit per spike time"), "spike_units", names)
    if t.size == 0:
        raise _fail(f"{names('spike_times')} is empty; a recording needs spikes.")
    if "unit_ids" in arrays:
        n_units = int(np.asarray(arrays["unit_ids"]).size)
        unit_ids = _unit_ids(arrays, n_units, names)
        if u.max() >= n_units:
            raise _fail(f"{names('spike_units')} holds unit {u.max()} but unit_ids has only {n_units} entries (indices are 0-based).")
        idx = u
    else:
        labels_u, idx = np.unique(u, return_inverse=True)
        unit_ids = np.array([f"unit_{int(x):03d}" for x in labels_u])
    order = np.argsort(t, kind="stable")
    t, idx = t[order], idx[order].astype(np.int64)
    times = [t[0], t[-1]]

    behaviour = None
    beh_segments: list[tuple[float, float]] = []
    if arrays.get("behaviour") is not None:
        if "behaviour_timestamps" not in arrays:
            raise _fail(f"{names('behaviour')} needs 'behaviour_timestamps' (s) in the spikes layout.")
        bt = _check_finite(_vector(arrays, "behaviour_timestamps", None, names, "(B,): one time per behaviour sample"), "behaviour_timestamps", names)
        bb = np.asarray(arrays["behaviour"])
        if bb.ndim == 1:
            bb = bb[:, None]
        if bb.ndim != 2 or bb.shape[0] != bt.size:
            raise _fail(f"{names('behaviour')} has shape {_shape(arrays['behaviour'])}; expected ({bt.size}, D): one row per behaviour timestamp.")
        bb = _select_dims(_check_finite(bb, "behaviour", names), spec, "behaviour", names, behaviour_selected)
        o = np.argsort(bt, kind="stable")
        bt, bb = bt[o], bb[o]
        if bt.size < 2 or np.any(np.diff(bt) <= 0):
            raise _fail(f"{names('behaviour_timestamps')} must hold at least two distinct, increasing times.")
        dt = np.diff(bt)
        breaks = np.flatnonzero(dt > 1.5 * np.median(dt)) + 1  # contiguous segments of sampling
        bounds = np.concatenate([[0], breaks, [bt.size]])
        step = float(np.median(dt))
        if spec.behaviour_kind == "position":
            vel = np.concatenate(
                [_velocity_from_position(bb[a:z], np.diff(bt[a:z])) for a, z in zip(bounds[:-1], bounds[1:])]
            )
            behaviour = Behaviour(spec.behaviour_name, bt, vel, bb)
        else:
            behaviour = Behaviour(spec.behaviour_name, bt, bb, None)
        beh_segments = [(float(bt[a]), float(bt[z - 1]) + step) for a, z in zip(bounds[:-1], bounds[1:])]
        times += [bt[0], bt[-1] + step]

    trials = None
    given = None
    if "trial_start" in arrays or "trial_end" in arrays:
        if not ("trial_start" in arrays and "trial_end" in arrays):
            raise _fail(f"Trials in {names.where} need both 'trial_start' and 'trial_end' (s).")
        ts = _check_finite(_vector(arrays, "trial_start", None, names, "(N,): trial start times (s)"), "trial_start", names)
        n = ts.size
        te = _check_finite(_vector(arrays, "trial_end", n, names, f"({n},): one end time per trial_start"), "trial_end", names)
        if np.any(te <= ts):
            i = int(np.flatnonzero(te <= ts)[0])
            raise _fail(f"{names('trial_end')}: trial {i} ends at {te[i]} s, not after its start {ts[i]} s.")
        o = np.argsort(ts, kind="stable")
        label_key = "labels" if "labels" in arrays else ("label" if "label" in arrays else None)
        target = np.full(n, -1, np.int64)
        if label_key:
            target = _labels(_vector(arrays, label_key, n, names, f"({n},): one label per trial"), spec.label_offset, label_key, names)
        if "trial_split" in arrays:
            given = _split_codes(_vector(arrays, "trial_split", n, names, f"({n},): one split per trial"), "trial_split", names)[o]
        trials = Trials(ts[o], te[o], target[o], np.ones(n, bool))
        times += [ts.min(), te.max()]
    elif "labels" in arrays or "label" in arrays or "trial_split" in arrays:
        raise _fail(f"Labels / trial_split in {names.where} need trials: give 'trial_start' and 'trial_end'.")

    start = float(min(times))
    end = float(max(times)) + 1e-3  # half-open domain: keep the last spike inside
    domain = Intervals.single(start, end)
    phases: dict[str, Intervals] = {}
    if trials is not None:
        splits = _make_splits(trials, given, spec)
        if behaviour is not None:
            phases["reach_period"] = trials.as_intervals()
    else:
        splits = _block_splits(start, end, None)
        if behaviour is not None:
            phases["random_period"] = Intervals(np.array([s for s, _ in beh_segments]), np.array([e for _, e in beh_segments]))
    return Recording(
        recording_id=spec.recording_id or Path(spec.path or "imported").stem,
        subject_id=spec.subject_id,
        brainset=spec.brainset,
        task_type=_task_type(spec, trials is not None, behaviour is not None),
        domain=domain,
        spike_times=t,
        spike_units=idx,
        unit_ids=unit_ids,
        behaviour=behaviour,
        trials=trials,
        phases=phases,
        splits=splits,
    )


def _infer_layout(arrays: dict, names: _Names) -> str:
    for key, layout in (("counts", "continuous"), ("trial_counts", "trials"), ("spike_times", "spikes")):
        if key in arrays:
            return layout
    raise _fail(
        f"{names.where} holds none of the arrays 'counts' (continuous layout), 'trial_counts' (trials "
        "layout) or 'spike_times' (spikes layout); name the right ones with 'fields' (e.g. fields: "
        "{counts: my_counts}). See docs/import_schema.md."
    )


_LAYOUT_KEY = {"continuous": "counts", "trials": "trial_counts", "spikes": "spike_times"}


def _import_loaded(arrays: dict, spec: ImportSpec, names: _Names, behaviour_selected: bool) -> Recording:
    layout = spec.layout or _infer_layout(arrays, names)
    key = _LAYOUT_KEY[layout]
    if key not in arrays:
        raise _fail(f"{names.where} has no '{spec.fields.get(key, key)}' array, which the '{layout}' layout needs (fields.{key}).")
    if spec.task_type is not None and spec.task_type not in TASK_TYPES:  # pragma: no cover - pydantic guards
        raise _fail(f"task_type must be one of {TASK_TYPES}.")
    build = {"continuous": _import_continuous, "trials": _import_trials, "spikes": _import_spikes}[layout]
    return build(arrays, spec, names, behaviour_selected)


# ----------------------------------------------------------------------------- public API


def import_arrays(arrays: dict[str, Any], spec: dict | ImportSpec | None = None, **options: Any) -> Recording:
    """Build a ``Recording`` from arrays in memory, keyed by the canonical names of the schema.

    ``spec`` / ``options`` are fields of the import spec (``bin_size_s``, ``behaviour_kind``, ...);
    ``fields`` renames keys. Example::

        rec = import_arrays({"counts": X, "behaviour": P, "trial_id": tid, "label": d},
                            bin_size_s=0.02, behaviour_kind="position", label_offset=1)
    """
    base = spec.model_dump(exclude_unset=True) if isinstance(spec, ImportSpec) else dict(spec or {})
    s = validate_spec({**base, **options}, "import options")
    data = {}
    for key in CANONICAL_KEYS:
        name = s.fields.get(key, key)
        if name in arrays and arrays[name] is not None:
            data[key] = arrays[name]
        elif key in s.fields:
            raise _fail(f"The arrays given to import_arrays have no '{name}' (fields.{key}); they hold {', '.join(arrays)}.")
    names = _Names("the arrays given to import_arrays", {k: f"'{s.fields.get(k, k)}'" for k in data})
    return _import_loaded(data, s, names, behaviour_selected=False)


def resolve_spec(spec: dict | ImportSpec, base_dir: str | Path | None = None) -> ImportSpec:
    """Validate a spec, merge its recipe and make its paths absolute (relative to ``base_dir``)."""
    s = validate_spec(spec)
    base = Path(base_dir) if base_dir else Path.cwd()

    def resolve(p: str) -> Path:
        q = Path(os.path.expanduser(str(p)))
        return q if q.is_absolute() else (base / q).resolve()

    return _apply_recipe(s, resolve)


def load_spec(spec: ImportSpec) -> Recording:
    """Read the files of a resolved spec (see :func:`resolve_spec`) into a ``Recording``."""
    _input_files(spec)
    fmt = _format_of(spec)
    arrays, names = READERS[fmt](spec)
    return _import_loaded(arrays, spec, names, behaviour_selected=fmt == "csv")


def import_file(spec: dict | ImportSpec, out_path: str | Path, base_dir: str | Path | None = None) -> Path:
    """Import the recording a spec describes and write it (atomically) to ``out_path``."""
    resolved = resolve_spec(spec, base_dir)
    rec = load_spec(resolved)
    return save_recording(rec, out_path)


def output_name(spec: ImportSpec) -> str:
    return spec.recording_id or Path(spec.path or "imported").stem


def import_from_spec(spec: dict, out_dir: str | Path, base_dir: str | Path | None = None) -> list[Path]:
    """Import a spec (dict, as in a suite or on the command line) into ``out_dir``; returns the files.

    The file is ``<out_dir>/<recording_id>.h5`` (recording_id defaults to the data file's stem).
    """
    resolved = resolve_spec(spec, base_dir)
    rec = load_spec(resolved)
    return [save_recording(rec, Path(out_dir) / f"{output_name(resolved)}.h5")]


def recipe_names() -> list[str]:
    return sorted(RECIPES)


@data_sources.register("import")
class ImportSource(DataSource):
    """Import a recording from .npz / .mat / .csv arrays (``recipe`` + ``path``, or a generic spec).

    The HDF5 file is written once to ``<cache_dir>/imported/<name>-<key>/<recording_id>.h5``; the key
    hashes the spec, the input files' sizes and modification times and the importer version, so a
    changed input or importer writes a new file and an unchanged one is reused.
    """

    Params = ImportParams

    def cache_path(self) -> tuple[ImportSpec, Path]:
        spec = _apply_recipe(self.params, self.resolve)
        files = _input_files(spec)
        dump = spec.model_dump(mode="json")
        key = params_key({"spec": dump, "inputs": _fingerprint(files), "importer": IMPORTER_VERSION})
        name = self.params.name or spec.recipe or output_name(spec)
        folder = self.cache_dir / "imported" / f"{name}-{key}"
        return spec, folder / f"{output_name(spec)}.h5"

    def materialize(self, progress: bool = True) -> list[Path]:
        spec, out = self.cache_path()
        if out.is_file():
            return [out]
        if progress:
            what = f"recipe {spec.recipe}" if spec.recipe else f"{spec.format or Path(spec.path).suffix} file"
            print(f"[import] {spec.path} ({what}) -> {out}", file=sys.stderr, flush=True)
        return [save_recording(load_spec(spec), out)]
