"""The ``handwriting_simulator`` data source: simulated single-character sessions after Willett
et al. 2021, written once as brainsets-format HDF5 and reused (keyed by parameters and version)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field

from bench.data.simulators.cache import write_missing
from bench.data.simulators.handwriting.session import HandwritingSessionSpec, simulate_session
from bench.data.sources import DataSource, SourceParams, params_key
from bench.errors import DataError
from bench.registry import data_sources

# Bump whenever generated content changes, so that cached files of older versions are not reused.
HANDWRITING_SIMULATOR_VERSION = "2"
FIRST_DAY = date(2019, 5, 8)  # the first day of the public T5 data
# scale -> (sessions, trials per character). paper: ~27 trials per character in each of the
# public data's days; default: fewer days, and enough trials for the trained decoders to learn
# something (at 10 per character a GRU stays near chance), on a 2-core CPU.
SCALES = {"default": (3, 20), "paper": (10, 27)}
# How strongly the simulated arrays pick up the writing: calibrated so that PCA-KNN (baselines/
# pca_knn.py) lands in its published range on the default scale (81 +- 8 % in the POSSM paper,
# ~94 % in Willett et al.), see docs/handwriting.md.
QUALITY = 1.2


class HandwritingSimulatorParams(SourceParams):
    """Parameters of ``handwriting_simulator``; overrides left as None take the scale's value."""

    scale: Literal["default", "paper"] = "default"
    seed: int = 0
    n_sessions: int | None = Field(default=None, ge=1, le=50)
    trials_per_character: int | None = Field(default=None, ge=1, le=200)
    n_electrodes: int = Field(default=192, ge=2, le=1024)
    quality: float = Field(default=QUALITY, gt=0, le=10, description="tuning-depth multiplier")
    trial_gain_sd: float = Field(default=0.15, ge=0, le=2, description="per-trial log gain SD (Fano > 1)")


def session_specs(p: HandwritingSimulatorParams) -> list[HandwritingSessionSpec]:
    """One spec per session: named after consecutive recording days (one session every ~2 weeks)."""
    n_sessions, per_char = SCALES[p.scale]
    n_sessions, per_char = p.n_sessions or n_sessions, p.trials_per_character or per_char
    if per_char < 3:
        raise DataError(
            f"Data source 'handwriting_simulator', field 'trials_per_character': {per_char} trials per character "
            "cannot be split into train / valid / test per character; use at least 3."
        )
    return [
        HandwritingSessionSpec(
            session_id=f"handwriting_sim/t5_{FIRST_DAY + timedelta(days=14 * i):%Y%m%d}",
            index=i, seed=p.seed, n_electrodes=p.n_electrodes, trials_per_character=per_char,
            quality=p.quality, trial_gain_sd=p.trial_gain_sd,
        )
        for i in range(n_sessions)
    ]


@data_sources.register("handwriting_simulator")
class HandwritingSimulatorSource(DataSource):
    """Simulated single-character handwriting sessions after Willett et al. 2021 (192 electrodes, 10 ms).

    Files go to ``<cache_dir>/handwriting_simulator/<scale>-<hash of params and version>/``."""

    Params = HandwritingSimulatorParams

    @property
    def folder(self) -> Path:
        p = self.params
        key = params_key({"version": HANDWRITING_SIMULATOR_VERSION, **p.model_dump(mode="json")})
        return self.cache_dir / "handwriting_simulator" / f"{p.scale}-{key}"

    def materialize(self, progress: bool = True) -> list[Path]:
        specs = session_specs(self.params)
        paths = [self.folder / f"{s.session_id.split('/')[-1]}.h5" for s in specs]
        return write_missing(self.folder, specs, paths, simulate_session, "handwriting simulator",
                             "simulating handwriting", progress=progress)
