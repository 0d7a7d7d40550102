"""The ``simulator`` data source: writes simulated sessions as brainsets-format HDF5 files."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bench.data.simulators.cache import write_missing
from bench.data.simulators.nhp.presets import PRESETS, PresetName, Scale
from bench.data.simulators.nhp.session import SessionSpec, simulate_session
from bench.data.sources import DataSource, SourceParams, params_key
from bench.registry import data_sources

# Bump whenever generated content changes, so that cached files of older versions are not reused.
SIMULATOR_VERSION = "1"


class SimulatorParams(SourceParams):
    """Parameters of the ``simulator`` source; overrides left as None take the preset's value."""

    preset: PresetName
    scale: Scale = "default"
    seed: int = 0
    n_sessions: int | None = Field(default=None, ge=1, le=200)
    n_trials: int | None = Field(default=None, ge=10, le=5000)
    n_neurons: int | None = Field(default=None, ge=2, le=2000)


def session_specs(params: SimulatorParams) -> list[SessionSpec]:
    """One spec per session of the preset (or of the overridden session count)."""
    preset = PRESETS[params.preset]
    n_sessions = params.n_sessions or preset.n_sessions
    ids = preset.session_ids(n_sessions)
    days = preset.session_days(n_sessions)
    return [
        SessionSpec(
            preset=preset,
            index=i,
            day=days[i],
            session_id=ids[i],
            scale=params.scale,
            seed=params.seed,
            n_trials=params.n_trials or preset.n_trials(params.scale),
            n_neurons=params.n_neurons,
        )
        for i in range(n_sessions)
    ]


@data_sources.register("simulator")
class SimulatorSource(DataSource):
    """Built-in NHP reaching simulator (presets named after the POSSM paper's datasets).

    Files go to ``<cache_dir>/simulator/<preset>-<scale>-<hash of params and version>/`` and are
    reused when present, so a suite generates each session once.
    """

    Params = SimulatorParams

    @property
    def folder(self) -> Path:
        p = self.params
        key = params_key({"version": SIMULATOR_VERSION, **p.model_dump(mode="json")})
        return self.cache_dir / "simulator" / f"{p.preset}-{p.scale}-{key}"

    def materialize(self, progress: bool = True) -> list[Path]:
        specs = session_specs(self.params)
        paths = [self.folder / f"{spec.session_id.split('/')[-1]}.h5" for spec in specs]
        return write_missing(self.folder, specs, paths, simulate_session, "simulator",
                             f"simulating {self.params.preset}", progress=progress)
