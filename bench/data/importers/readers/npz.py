"""NumPy ``.npz`` archives: arrays under the canonical names, or renamed with ``fields``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.data.importers.messages import ArrayNames, fail
from bench.data.importers.spec import CANONICAL_KEYS, ImportSpec


def _array(npz, name: str, path: Path) -> np.ndarray:
    """One array of the archive; ValueError for an object array without allow_pickle, DataError if damaged."""
    try:
        return npz[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise
        damage: Exception = exc
    except Exception as exc:  # zipfile.BadZipFile, zlib.error, EOFError, pickle errors: a damaged archive
        damage = exc
    raise fail(
        f"Array '{name}' in {path} could not be read ({type(damage).__name__}: {str(damage)[:200]}); the .npz file "
        "is damaged or truncated: write it again (np.savez)."
    )


def read_npz(spec: ImportSpec, allow_pickle: bool = False) -> tuple[dict[str, Any], ArrayNames]:
    """``allow_pickle`` comes from the person running the import, never from the spec (see ``ImportSpec``)."""
    path = Path(spec.path)
    try:
        npz = np.load(path, allow_pickle=allow_pickle)
    except Exception as exc:
        raise fail(f"Import input file {path} (field 'path') is not a readable .npz file ({exc}).") from None
    if not hasattr(npz, "files"):
        raise fail(f"Import input file {path} (field 'path') holds a single array, not an .npz archive of named arrays.")
    arrays, names = {}, {}
    with npz:
        for key in CANONICAL_KEYS:
            name = spec.fields.get(key, key)
            if name not in npz.files:
                if key in spec.fields:
                    raise fail(
                        f"Import input file {path} has no array '{name}' (fields.{key}); it holds: "
                        f"{', '.join(npz.files) or 'nothing'}."
                    )
                continue
            try:
                arrays[key] = _array(npz, name, path)
            except ValueError:
                raise fail(
                    f"Array '{name}' in {path} is an object array (e.g. a list of trials of different "
                    "lengths); loading it needs `bench import SPEC --out DIR --allow-pickle` (only for files you "
                    "trust: unpickling can run code), or store the trials padded to N x U x T_max with a "
                    "'trial_lengths' array."
                ) from None
            names[key] = f"array '{name}'"
        for stream, fs in spec.features.items():
            for store, name, field in (("features", fs.key or stream, "key"), ("feature_channels", fs.channel_ids, "channel_ids")):
                if name is None:
                    continue
                if name not in npz.files:
                    raise fail(
                        f"Import input file {path} has no array '{name}' (features.{stream}.{field}); it holds: "
                        f"{', '.join(npz.files) or 'nothing'}."
                    )
                try:
                    arrays.setdefault(store, {})[stream] = _array(npz, name, path)
                except ValueError:
                    raise fail(f"Array '{name}' in {path} is an object array; feature streams are plain numeric arrays.") from None
            names[f"features.{stream}"] = f"array '{fs.key or stream}'"
    return arrays, ArrayNames(str(path), names)
