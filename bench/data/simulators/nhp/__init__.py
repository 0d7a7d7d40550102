"""Built-in simulator of NHP reaching sessions (center-out and random-target), registered as the
``simulator`` data source.

Pipeline, one module per concern: ``presets`` (datasets, animals, sizes) -> ``behaviour`` (task
timeline and cursor) -> ``dynamics`` (latent factors) -> ``neurons`` (pools, drift, rates) ->
``spikes`` (continuous-time spike trains) -> ``session`` (assembly into a ``Recording``) ->
``source`` (cached HDF5 files).
"""

from bench.data.simulators.nhp.presets import PRESETS, Preset
from bench.data.simulators.nhp.session import SessionSpec, simulate_session
from bench.data.simulators.nhp.source import SIMULATOR_VERSION, SimulatorParams, SimulatorSource, session_specs

__all__ = [
    "PRESETS",
    "Preset",
    "SIMULATOR_VERSION",
    "SessionSpec",
    "SimulatorParams",
    "SimulatorSource",
    "session_specs",
    "simulate_session",
]
