"""CSV files (pandas): the ``continuous`` layout (counts file + targets file) and the ``spikes`` layout
(spikes file, optional behaviour and trials files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.data.importers.messages import ArrayNames, fail
from bench.data.importers.readers.columns import column_positions, read_table, select_columns
from bench.data.importers.spec import ImportSpec


def read_csv(spec: ImportSpec) -> tuple[dict[str, Any], ArrayNames]:
    layout = spec.layout or "continuous"
    path = Path(spec.path)
    arrays: dict[str, Any] = {}
    names: dict[str, str] = {}
    if layout == "trials":
        raise fail("CSV import supports the 'continuous' and 'spikes' layouts, not 'trials' (field 'layout').")
    if layout == "continuous":
        df = read_table(path, spec.header, "path")
        if spec.counts_columns is not None or not spec.features:  # with streams, counts only when selected
            arrays["counts"], _ = select_columns(df, spec.counts_columns, path, "counts_columns")
            names["counts"] = f"the count columns of {path.name}"
        if spec.targets_path:
            tpath = Path(spec.targets_path)
            tdf = read_table(tpath, spec.header, "targets_path")
            if tdf.shape[0] != df.shape[0]:
                raise fail(
                    f"Targets file {tpath} (field 'targets_path') has {tdf.shape[0]} rows but the counts file "
                    f"{path} has {df.shape[0]}; expected one row per bin in both."
                )
            if spec.behaviour_columns:
                arrays["behaviour"], labs = select_columns(tdf, spec.behaviour_columns, tpath, "behaviour_columns")
                names["behaviour"] = f"{', '.join(labs)} of {tpath.name}"
            for key, col, fld in (
                ("label", spec.label_column, "label_column"),
                ("trial_id", spec.trial_column, "trial_column"),
                ("trial_split", spec.split_column, "split_column"),
            ):
                if col is not None:
                    vals, labs = select_columns(tdf, [col], tpath, fld, numeric=key != "trial_split", one_each=True)
                    arrays[key] = vals[:, 0]
                    names[key] = f"{labs[0]} of {tpath.name}"
        elif spec.behaviour_columns or spec.label_column is not None or spec.trial_column is not None:
            raise fail(
                "behaviour_columns / label_column / trial_column select columns of the targets file, but the "
                "spec has no 'targets_path'."
            )
    else:  # spikes
        df = read_table(path, spec.header, "path")
        vals, labs = select_columns(df, [spec.spike_time_column, spec.spike_unit_column], path,
                                    "spike_time_column / spike_unit_column", one_each=True)
        arrays["spike_times"], arrays["spike_units"] = vals[:, 0], vals[:, 1]
        names["spike_times"], names["spike_units"] = (f"{lab} of {path.name}" for lab in labs)
        if spec.behaviour_path:
            bpath = Path(spec.behaviour_path)
            bdf = read_table(bpath, spec.header, "behaviour_path")
            t, _ = select_columns(bdf, [spec.behaviour_time_column], bpath, "behaviour_time_column", one_each=True)
            cols = spec.behaviour_columns
            if cols is None:
                tc = spec.behaviour_time_column
                cols = [i for i in range(bdf.shape[1]) if i != tc and bdf.columns[i] != tc]
            arrays["behaviour_timestamps"] = t[:, 0]
            arrays["behaviour"], labs = select_columns(bdf, cols, bpath, "behaviour_columns")
            names["behaviour"] = f"{', '.join(labs)} of {bpath.name}"
            names["behaviour_timestamps"] = f"the time column of {bpath.name}"
        if spec.trials_path:
            tpath = Path(spec.trials_path)
            tdf = read_table(tpath, spec.header, "trials_path")
            se, labs = select_columns(tdf, [spec.trial_start_column, spec.trial_end_column], tpath,
                                      "trial_start_column / trial_end_column", one_each=True)
            arrays["trial_start"], arrays["trial_end"] = se[:, 0], se[:, 1]
            names["trial_start"], names["trial_end"] = (f"{lab} of {tpath.name}" for lab in labs)
            for key, col, fld in (("labels", spec.label_column, "label_column"), ("trial_split", spec.split_column, "split_column")):
                if col is not None:
                    vals, labs = select_columns(tdf, [col], tpath, fld, numeric=key != "trial_split", one_each=True)
                    arrays[key] = vals[:, 0]
                    names[key] = f"{labs[0]} of {tpath.name}"
    _read_feature_columns(spec, arrays, names)
    return arrays, ArrayNames(str(path), names)


def _read_feature_columns(spec: ImportSpec, arrays: dict[str, Any], names: dict[str, str]) -> None:
    """Each stream's columns, from its own file or the spec's; channel ids from the header if any."""
    for stream, fs in spec.features.items():
        fpath = Path(fs.path or spec.path)
        df = read_table(fpath, spec.header, f"features.{stream}.path" if fs.path else "path")
        where = f"features.{stream}.columns"
        arrays.setdefault("features", {})[stream], _ = select_columns(df, fs.columns, fpath, where)
        if any(isinstance(c, str) for c in df.columns):  # a header row: its names are the channel ids
            ids = [str(df.columns[i]) for i, _ in column_positions(df, fs.columns, fpath, where)]
            arrays.setdefault("feature_channels", {})[stream] = ids
        names[f"features.{stream}"] = f"the columns of stream '{stream}' in {fpath.name}"
