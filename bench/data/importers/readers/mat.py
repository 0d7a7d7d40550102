"""MATLAB ``.mat`` files: v4-v7 through scipy, v7.3 (HDF5) through h5py; flat variables or struct arrays of trials.

Struct arrays (``trial_structs``) are flattened here into the trials layout's arrays, so the
layout code never sees MATLAB types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.data.importers.messages import ArrayNames, fail, shape_of
from bench.data.importers.spec import CANONICAL_KEYS, ImportSpec


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
            raise fail(f"Import input file {path} (field 'path') is not a readable MATLAB .mat file ({exc}).") from None
        return {k: _mat_value(v) for k, v in raw.items() if not k.startswith("__")}
    try:
        with h5py.File(path, "r") as f:
            return {k: _h5_to_py(f[k], f) for k in f.keys() if not k.startswith("#")}
    except Exception as exc:
        raise fail(f"Import input file {path} (field 'path') is a MATLAB v7.3 file that could not be read ({exc}).") from None


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


def read_mat(spec: ImportSpec) -> tuple[dict[str, Any], ArrayNames]:
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
            raise fail(
                f"Import input file {path} has no variable '{name}' (fields.{key}); it holds: "
                f"{', '.join(sorted(data)) or 'nothing'}."
            )
    for stream, fs in spec.features.items():
        for store, name, field in (("features", fs.key or stream, "key"), ("feature_channels", fs.channel_ids, "channel_ids")):
            if name is None:
                continue
            found, value = _dig(data, name)
            if not found:
                raise fail(
                    f"Import input file {path} has no variable '{name}' (features.{stream}.{field}); it holds: "
                    f"{', '.join(sorted(data)) or 'nothing'}."
                )
            arrays.setdefault(store, {})[stream] = value
        names[f"features.{stream}"] = f"variable '{fs.key or stream}'"
    return arrays, ArrayNames(str(path), names)


def _read_mat_structs(spec: ImportSpec, data: dict, path: Path) -> tuple[dict[str, Any], ArrayNames]:
    counts, labels, splits, ids, behaviour = [], [], [], [], []
    for ts in spec.trial_structs or []:
        if ts.variable not in data:
            raise fail(
                f"Import input file {path} has no variable '{ts.variable}' (trial_structs); it holds: "
                f"{', '.join(sorted(data)) or 'nothing'}."
            )
        arr = data[ts.variable]
        if isinstance(arr, dict):
            arr = np.array([arr], dtype=object)
        if not (isinstance(arr, np.ndarray) and arr.dtype == object and arr.size and isinstance(arr.flat[0], dict)):
            raise fail(
                f"Variable '{ts.variable}' in {path} (trial_structs) is not a struct array: expected one "
                f"struct per trial with a field '{spec.counts_field}', got {shape_of(arr)} of {getattr(arr, 'dtype', type(arr))}."
            )
        if spec.label_axis is not None and spec.label_axis >= arr.ndim:
            raise fail(
                f"label_axis {spec.label_axis} is out of range for struct array '{ts.variable}' of shape "
                f"{arr.shape} in {path}."
            )
        for idx in np.ndindex(arr.shape):
            el = arr[idx]
            where = f"{ts.variable}{tuple(i + 1 for i in idx)} in {path}"
            for fname in (spec.counts_field, spec.id_field, spec.label_field, spec.behaviour_field):
                if fname and fname not in el:
                    raise fail(f"Struct element {where} has no field '{fname}'; its fields are {', '.join(el)}.")
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
                raise fail(f"Struct element {where}: field '{spec.label_field or spec.id_field}' {exc}.") from None
            if spec.behaviour_field:
                behaviour.append(np.asarray(el[spec.behaviour_field], dtype=float))
            splits.append(ts.split or "")
    if not counts:
        raise fail(f"The struct arrays {[t.variable for t in spec.trial_structs]} in {path} hold no trials.")
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
            raise fail(f"Every entry of trial_structs in the spec for {path} needs a split once one has one.")
        arrays["trial_split"] = np.asarray(pick(splits))
        names["trial_split"] = "trial_structs[].split"
    if ids:
        arrays["trial_ids"] = np.asarray(pick(ids))
    if behaviour:
        arrays["trial_behaviour"] = pick(behaviour)
        names["trial_behaviour"] = f"field '{spec.behaviour_field}'"
    return arrays, ArrayNames(str(path), names)

