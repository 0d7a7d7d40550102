"""Data sources: where a dataset's recording files come from.

A data source turns validated suite parameters into a list of HDF5 recording files in the
brainsets layout (``bench.data.recording``). Built-ins: ``brainsets`` / ``hdf5`` (a folder of
prepared files), ``simulator`` (``bench.data.simulators.nhp``) and ``import`` (``bench.data.importers``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

from bench.errors import DataError
from bench.registry import data_sources


def default_cache_dir() -> Path:
    """Where generated / imported files live: $BENCH_CACHE_DIR, else ~/.cache/neural-bench."""
    env = os.environ.get("BENCH_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "neural-bench"


def params_key(payload: dict) -> str:
    """Short stable hash of a JSON-able dict, used to key cached files by their parameters."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class SourceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSource:
    """Base class. Subclasses set ``Params`` and implement ``materialize``."""

    Params: ClassVar[type[SourceParams]] = SourceParams
    registry_name: ClassVar[str] = ""
    # bumped whenever a change alters the recordings it produces: records made before become stale
    version: ClassVar[int] = 1

    def __init__(self, params: SourceParams, cache_dir: Path | None = None, base_dir: Path | None = None):
        self.params = params
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.base_dir = Path(base_dir) if base_dir else Path.cwd()

    def resolve(self, path: str | Path) -> Path:
        """Paths in a suite are relative to the suite file's folder; ~ is expanded."""
        p = Path(os.path.expanduser(str(path)))
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def materialize(self, progress: bool = True) -> list[Path]:
        """Create the files if needed and return them, sorted."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"source": self.registry_name, **self.params.model_dump(mode="json")}


class FolderParams(SourceParams):
    path: str
    pattern: str = "*.h5"
    sessions: list[str] | None = None  # restrict to these file stems / session ids

    @field_validator("pattern")
    @classmethod
    def _pattern_inside(cls, v: str) -> str:
        """A pattern lists files inside ``path`` only: relative, no '..' (a suite must not list /etc)."""
        parts = v.replace("\\", "/").split("/")
        if not v.strip() or v.startswith(("/", "~", "\\")) or ":" in parts[0] or ".." in parts:
            raise ValueError(
                f"pattern {v[:100]!r} must be a relative glob inside the folder 'path' (e.g. '*.h5' or "
                "'sub/*.h5'), without '..', a leading '/' or '~'; point 'path' at another folder instead"
            )
        return v


@data_sources.register("hdf5")
class FolderSource(DataSource):
    """A folder of HDF5 recordings in the brainsets layout (e.g. a brainsets processed folder).

    Point ``path`` at ``<processed_dir>/perich_miller_population_2018`` after running
    ``brainsets prepare perich_miller_population_2018`` on a connected machine.
    """

    Params = FolderParams
    # 2: torch_brain 0.2 files read right (NaN targets -> -1, NaN behaviour samples dropped, task type
    # from the session id / brainset, NLB's eval windows as reach_period; bench.data.brainsets_compat)
    version: ClassVar[int] = 2

    def materialize(self, progress: bool = True) -> list[Path]:
        folder = self.resolve(self.params.path)
        if not folder.is_dir():
            raise DataError(
                f"Data folder {folder} does not exist (data source '{self.registry_name}', field 'path'). "
                "Point it at a folder of brainsets / temporaldata HDF5 files."
            )
        files = sorted(f for f in folder.glob(self.params.pattern) if f.is_file() and f.is_relative_to(folder))
        if self.params.sessions:
            wanted = set(self.params.sessions)
            files = [f for f in files if f.stem in wanted]
            missing = wanted - {f.stem for f in files}
            if missing:
                raise DataError(f"Data folder {folder} has no recordings named {sorted(missing)}.")
        if not files:
            raise DataError(
                f"Data folder {folder} holds no files matching '{self.params.pattern}'; expected "
                "one HDF5 file per recording."
            )
        return files


def _has_split_domains(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "train_domain" in f
    except OSError:  # not HDF5: load_recording says so, naming the file
        return True


@data_sources.register("brainsets")
class BrainsetsSource(FolderSource):
    """A folder made by ``brainsets prepare NAME`` (torch_brain 0.2.1, or brainsets 0.2.2): ``<processed_dir>/NAME``.

    Read as torch_brain's dataset classes (``PerichMillerPopulation2018``, ``PeiPandarinathNLB2021``,
    ``OdohertySabesNonhuman2017``) read it: each file's ``train_domain`` / ``valid_domain`` /
    ``test_domain`` are the splits, and spike-token models key units by ``<brainset>/<session>/<unit>``
    (``bench.models.tokens``), torch_brain's ``<session>/<unit>`` within its dataset. Every file must
    hold the split domains: NLB's held-out ``jenkins_maze_test`` (no behaviour, no splits) is refused
    by name, and ``sessions`` leaves it out.
    """

    def materialize(self, progress: bool = True) -> list[Path]:
        folder = self.resolve(self.params.path)
        if folder.is_dir() and not any(folder.glob(self.params.pattern)):
            inner = sorted(d.name for d in folder.iterdir() if d.is_dir() and any(d.glob("*.h5")))
            if inner:  # the processed root of `brainsets config`, not one brainset's folder
                raise DataError(
                    f"Data folder {folder} (data source 'brainsets', field 'path') holds no '{self.params.pattern}' "
                    f"files but brainset folders ({', '.join(inner[:8])}); point 'path' at one of them, e.g. "
                    f"{folder / inner[0]}."
                )
        files = super().materialize(progress)
        unsplit = [f.name for f in files if not _has_split_domains(f)]
        if unsplit:
            raise DataError(
                f"Data folder {self.resolve(self.params.path)} (data source 'brainsets'): {', '.join(unsplit[:10])} "
                "hold no train_domain / valid_domain / test_domain, so nothing can be trained or scored on them "
                "(e.g. NLB's held-out test file has no behaviour). Leave them out with 'sessions' (the file "
                "stems to use) or 'pattern'."
            )
        return files
