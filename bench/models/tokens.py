"""Spike-token views shared by POSSM and POYO: namespaced unit / session vocabularies and unit dropout.

Each spike becomes a token (unit index, timestamp). Unit and session ids are prefixed by their
dataset (brainset) and session so that one model can ingest any number of sessions with any
population sizes: the embedding tables are indexed by the global indices built here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch

from bench.data.recording import Recording


def session_key(rec: Recording) -> str:
    return f"{rec.brainset}/{rec.recording_id}"


def unit_keys(rec: Recording) -> list[str]:
    prefix = session_key(rec)
    return [f"{prefix}/{u}" for u in rec.unit_ids.tolist()]


@dataclass
class Vocabulary:
    """Global indices of units and sessions; new sessions can be added (unit identification)."""

    units: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)

    def add(self, recordings: Iterable[Recording]) -> None:
        for rec in recordings:
            if session_key(rec) not in self.sessions:
                self.sessions[session_key(rec)] = len(self.sessions)
            for key in unit_keys(rec):
                if key not in self.units:
                    self.units[key] = len(self.units)

    def unit_index(self, rec: Recording) -> np.ndarray:
        """Map the recording's local unit indices to global embedding rows (cached on the recording)."""
        cache_key = ("unit_index", id(self))
        if cache_key not in rec._views:
            rec._views[cache_key] = np.array([self.units[k] for k in unit_keys(rec)], dtype=np.int64)
        return rec._views[cache_key]

    def session_index(self, rec: Recording) -> int:
        return self.sessions[session_key(rec)]

    def __contains__(self, rec: Recording) -> bool:
        return session_key(rec) in self.sessions


def unit_dropout_mask(
    n_units: int, rng: np.random.Generator, minimum: int = 60, mode: int = 300, maximum: int = 1000,
    capped: bool = False,
) -> np.ndarray:
    """Boolean mask keeping a random subset of units (size from a triangular distribution, POSSM).

    Populations smaller than ``minimum`` are kept whole. Two rules for the number kept:

    * ``capped=False`` (POYO here, and POSSM before its version 2): triangular(minimum,
      min(mode, n), min(maximum, n)), so a population under ``maximum`` is always thinned;
    * ``capped=True`` (the POSSM authors' rule): one draw of triangular(minimum, mode, maximum);
      a draw at or above the population keeps it whole, so a 90-unit population is thinned in
      under 1 % of samples and a 2000-unit one always.
    """
    if n_units <= minimum:
        return np.ones(n_units, bool)
    if capped:
        keep = int(round(rng.triangular(minimum, mode, maximum)))
        if keep >= n_units:
            return np.ones(n_units, bool)
    else:
        hi = min(maximum, n_units)
        keep = int(round(rng.triangular(minimum, min(mode, hi), hi))) if hi > minimum else n_units
    mask = np.zeros(n_units, bool)
    mask[rng.choice(n_units, size=max(1, keep), replace=False)] = True
    return mask


def session_units(vocab: Vocabulary, recordings: Iterable[Recording]) -> dict[int, np.ndarray]:
    """Session index -> the global unit rows of that session (what unit dropout draws from)."""
    return {vocab.session_index(rec): vocab.unit_index(rec) for rec in recordings}


def unit_dropout_keep(token_units: torch.Tensor, sessions: torch.Tensor, units_of: dict[int, np.ndarray],
                      rng: np.random.Generator, minimum: int = 60, capped: bool = False) -> torch.Tensor:
    """Unit dropout as a transform of a collated batch of spike tokens: for each sample, draw the
    units it keeps (:func:`unit_dropout_mask` over its session's units, in batch order, so the draws
    only depend on ``rng``) and return which of its tokens (``token_units``, (B, N) global unit
    rows) belong to a kept unit. Tokens of other units (padding, -1) come out False.

    One (B, units + 1) table of kept rows and one gather: no per-sample search over the tokens."""
    n_rows = 1 + max(int(u.max()) for u in units_of.values() if u.size) if units_of else 1
    n_rows = max(n_rows, int(token_units.max()) + 1 if token_units.numel() else 0)
    table = np.zeros((token_units.shape[0], n_rows + 1), bool)  # last column: padding (-1)
    for b in range(token_units.shape[0]):
        units = units_of[int(sessions[b])]
        table[b, units[unit_dropout_mask(units.size, rng, minimum=minimum, capped=capped)]] = True
    rows = torch.where(token_units < 0, n_rows, token_units)
    return torch.from_numpy(table).to(token_units.device).gather(1, rows)
