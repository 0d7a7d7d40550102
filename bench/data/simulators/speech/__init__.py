"""Built-in simulator of attempted speech (after Willett et al. 2023), the ``speech_simulator``
data source.

Pipeline, one module per concern: ``presets`` (arrays, scales, days) -> ``sentences`` (words,
phonemes and their timing) -> ``neural`` (articulatory latent, tuning, drift, crossings and
spike-band power) -> ``session`` (one day as a ``Recording``, splits by block) -> ``source``
(cached HDF5 files). Labels and the text -> phoneme conversion: ``bench.data.phonemes``.
"""

from bench.data.simulators.speech.session import DaySpec, simulate_day
from bench.data.simulators.speech.source import SPEECH_SIMULATOR_VERSION, SpeechSimulatorParams, SpeechSimulatorSource

__all__ = ["DaySpec", "SPEECH_SIMULATOR_VERSION", "SpeechSimulatorParams", "SpeechSimulatorSource", "simulate_day"]
