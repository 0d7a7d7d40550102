"""The ``speech_simulator`` data source: simulated speech days as cached HDF5 recordings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from tqdm.auto import tqdm

from bench.data.simulators.speech.presets import SCALES, Scale, session_ids
from bench.data.simulators.speech.session import DaySpec, simulate_day
from bench.data.sources import DataSource, SourceParams, params_key
from bench.data.storage import save_recording
from bench.errors import DataError
from bench.registry import data_sources

# Bump whenever generated content changes, so that cached files of older versions are not reused.
SPEECH_SIMULATOR_VERSION = "1"


class SpeechSimulatorParams(SourceParams):
    """Overrides left as None take the scale's value."""

    scale: Scale = "default"
    seed: int = 0
    n_days: int | None = Field(None, ge=1, le=60)
    n_blocks: int | None = Field(None, ge=2, le=20, description="blocks per day; the last is the test block")
    trials_per_block: int | None = Field(None, ge=2, le=200)

    def day_specs(self) -> list[DaySpec]:
        s = SCALES[self.scale]
        n_days = self.n_days or s.n_days
        return [
            DaySpec(sid, d, self.seed, self.n_blocks or s.n_blocks, self.trials_per_block or s.trials_per_block)
            for d, sid in enumerate(session_ids(n_days))
        ]


@data_sources.register("speech_simulator")
class SpeechSimulatorSource(DataSource):
    """Simulated attempted-speech sessions after Willett et al. 2023 (one file per day).

    Files go to ``<cache_dir>/speech_simulator/<scale>-<hash of params and version>/`` and are
    reused when present.
    """

    Params = SpeechSimulatorParams

    @property
    def folder(self) -> Path:
        p = self.params
        key = params_key({"version": SPEECH_SIMULATOR_VERSION, **p.model_dump(mode="json")})
        return self.cache_dir / "speech_simulator" / f"{p.scale}-{key}"

    def materialize(self, progress: bool = True) -> list[Path]:
        specs = self.params.day_specs()
        paths = [self.folder / f"{spec.session_id}.h5" for spec in specs]
        todo = [(s, p) for s, p in zip(specs, paths) if not p.is_file()]
        if todo:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataError(
                    f"Cannot create the speech simulator cache folder {self.folder} ({exc.strerror}). "
                    "Set BENCH_CACHE_DIR (or the cache directory option) to a writable folder."
                ) from None
        for spec, path in tqdm(todo, desc="simulating speech", unit="day", disable=not progress or not todo):
            save_recording(simulate_day(spec), path)
        return sorted(paths)
