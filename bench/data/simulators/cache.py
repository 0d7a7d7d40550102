"""Writing a simulator's sessions into its cache folder: only the missing files, each atomically
(``save_recording``), with a clear error when the folder cannot be created."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from bench.data.recording import Recording
from bench.data.storage import save_recording
from bench.errors import DataError


def write_missing(folder: Path, specs: Sequence[Any], paths: Sequence[Path], simulate: Callable[[Any], Recording],
                  what: str, desc: str, unit: str = "session", progress: bool = True) -> list[Path]:
    """Simulate and save every spec whose file is missing; returns all the paths, sorted.
    ``what`` names the simulator in the error ("simulator", "handwriting simulator", ...)."""
    todo = [(s, p) for s, p in zip(specs, paths) if not p.is_file()]
    if todo:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"Cannot create the {what} cache folder {folder} ({exc.strerror}). "
                "Set BENCH_CACHE_DIR (or the cache directory option) to a writable folder."
            ) from None
    for spec, path in tqdm(todo, desc=desc, unit=unit, disable=not progress or not todo):
        save_recording(simulate(spec), path)
    return sorted(paths)
