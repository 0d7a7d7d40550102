"""Speech simulator presets: the participant's arrays and the size of a run of recording days.

``default`` is small enough to train every speech decoder in a suite on a laptop CPU; ``paper``
approaches participant T12's data (24 days, ~450 sentences a day in blocks; FACTS.md "Speech").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Scale = Literal["default", "paper"]

BIN_S = 0.02  # 20 ms bins, as in the original recordings
ARRAYS = ("6v_ventral", "6v_dorsal", "44_inferior", "44_superior")
CHANNELS_PER_ARRAY = 64
FIRST_DAY = date(2022, 6, 1)


@dataclass(frozen=True)
class SpeechScale:
    n_days: int
    n_blocks: int  # per day; the last block of each day is the test block
    trials_per_block: int


SCALES: dict[str, SpeechScale] = {
    "default": SpeechScale(n_days=3, n_blocks=4, trials_per_block=20),
    "paper": SpeechScale(n_days=24, n_blocks=9, trials_per_block=50),
}


def session_ids(n_days: int) -> list[str]:
    """One session per day, every 3-4 days like a clinical-trial schedule (fixed, not seeded)."""
    return [f"t12_{FIRST_DAY + timedelta(days=int(3.5 * d)):%Y%m%d}" for d in range(n_days)]
