"""Built-in simulator of human single-character handwriting sessions (after Willett et al. 2021),
registered as the ``handwriting_simulator`` data source.

Pipeline, one module per concern: ``glyphs`` (pen trajectories from a stroke font) ->
``population`` (electrodes, tuning, drift, rates) -> ``session`` (trials -> ``Recording`` through
``bench.data.letters``, the importer's builder) -> ``source`` (cached HDF5 files);
``stats`` compares the simulated crossings with published statistics.
"""

from bench.data.simulators.handwriting.session import HandwritingSessionSpec, simulate_session
from bench.data.simulators.handwriting.source import (
    HANDWRITING_SIMULATOR_VERSION,
    HandwritingSimulatorParams,
    HandwritingSimulatorSource,
    session_specs,
)

__all__ = [
    "HANDWRITING_SIMULATOR_VERSION",
    "HandwritingSessionSpec",
    "HandwritingSimulatorParams",
    "HandwritingSimulatorSource",
    "session_specs",
    "simulate_session",
]
