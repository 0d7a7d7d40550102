"""Import entry points: arrays in memory -> Recording, a spec -> HDF5 file(s), and hints for the user."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from bench.data.importers.layouts import build_recording
from bench.data.importers.messages import ArrayNames, fail
from bench.data.importers.readers import READERS
from bench.data.importers.single_letters import read_single_letters
from bench.data.importers.resolve import format_of, input_files, resolve_spec
from bench.data.importers.spec import CANONICAL_KEYS, ImportSpec, validate_spec
from bench.data.importers.timeline import recording_name
from bench.data.recording import Recording
from bench.data.storage import save_recording


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
            raise fail(f"The arrays given to import_arrays have no '{name}' (fields.{key}); they hold {', '.join(arrays)}.")
    for stream, fs in s.features.items():
        for store, name in (("features", fs.key or stream), ("feature_channels", fs.channel_ids)):
            if name is not None and name not in arrays:
                raise fail(f"The arrays given to import_arrays have no '{name}' (features.{stream}); they hold {', '.join(arrays)}.")
            if name is not None:
                data.setdefault(store, {})[stream] = arrays[name]
    names = ArrayNames("the arrays given to import_arrays", {k: f"'{s.fields.get(k, k)}'" for k in data})
    names.names.update({f"features.{n}": f"'{fs.key or n}'" for n, fs in s.features.items()})
    return build_recording(data, s, names, behaviour_selected=False)


def load_spec(spec: ImportSpec, allow_pickle: bool = False) -> Recording:
    """Read the files of a resolved spec (see ``resolve_spec``) into a ``Recording``.

    ``allow_pickle`` lets an .npz hold object arrays; it is the caller's decision (a command-line
    flag), never a spec field, because unpickling a stranger's file can run code.
    """
    input_files(spec)
    if spec.layout == "single_letters":  # per-character cubes: their own reader and builder
        return read_single_letters(spec.path, spec.recording_id, spec.subject_id, spec.brainset, spec.split_seed)
    fmt = format_of(spec)
    reader = READERS[fmt]
    arrays, names = reader(spec, allow_pickle=True) if allow_pickle and fmt == "npz" else reader(spec)
    return build_recording(arrays, spec, names, behaviour_selected=fmt == "csv")


def import_hints(rec: Recording) -> list[str]:
    """What a user importing this recording should know before training on it."""
    hints = []
    if rec.trials is None:
        train = rec.splits.get("train")
        longest = max((e - s for s, e in train), default=0.0) if train is not None else 0.0
        hints.append(
            f"{rec.recording_id} is a continuous recording without trials: models train on whole split segments "
            f"(the longest train segment here is {longest:.1f} s) unless the suite's train block sets window_s "
            "(e.g. train: {window_s: 1.0}); see docs/import_schema.md, 'Continuous recordings'."
        )
    return hints


def import_file(
    spec: dict | ImportSpec, out_path: str | Path, base_dir: str | Path | None = None, allow_pickle: bool = False
) -> Path:
    """Import the recording a spec describes and write it (atomically) to ``out_path``."""
    return save_recording(load_spec(resolve_spec(spec, base_dir), allow_pickle=allow_pickle), out_path)


def import_from_spec(
    spec: dict | ImportSpec,
    out_dir: str | Path,
    base_dir: str | Path | None = None,
    on_hint: Callable[[str], None] | None = None,
    allow_pickle: bool = False,
) -> list[Path]:
    """Import a spec (dict, as in a suite or on the command line) into ``out_dir``; returns the files.

    The file is ``<out_dir>/<recording_id>.h5`` (recording_id defaults to the data file's stem);
    ``on_hint`` receives the ``import_hints`` of the recording; ``allow_pickle`` see ``load_spec``.
    """
    resolved = resolve_spec(spec, base_dir)
    out = Path(out_dir) / f"{recording_name(resolved)}.h5"
    rec = load_spec(resolved, allow_pickle=allow_pickle)
    for hint in import_hints(rec) if on_hint else ():
        on_hint(hint)
    return [save_recording(rec, out)]
