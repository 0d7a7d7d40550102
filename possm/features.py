"""Feature streams as an extra POSSM input: one vector per chunk, projected onto the latents.

POSSM reads spikes (or threshold crossings, as events derived from a counts stream) as tokens. A
feature stream (e.g. spike-band power) has no events to tokenise, so each chunk's bins of the
configured streams are merged into one value per channel (averaged for continuous streams, summed
for counts: ``bench.data.views.rebin``), standardised with the train split's statistics and added,
through a linear projection, to the chunk's latents before the recurrent backbone. Offline
(``segment_features``) and streaming (``chunk_features``) paths merge the same bins with the same
function, so both see the same numbers. Without feature streams nothing here is built and POSSM is
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from bench.data.views import bins_per_bin, feature_between, feature_stream, rebin
from bench.errors import DataError
from bench.models.base import SpikeChunk
from bench.tasks.base import Segment, TaskData


@dataclass(frozen=True)
class ChunkFeatures:
    """The streams a POSSM reads per chunk: names, kinds, stream bins per chunk and total width."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    factors: tuple[int, ...]
    width: int

    @classmethod
    def plan(cls, sessions: Sequence[TaskData], names: Sequence[str], chunk_s: float) -> "ChunkFeatures":
        """Check that every session has the streams, with one channel count across sessions (the
        projection is shared) and a bin that divides the chunk; DataError naming what differs."""
        kinds, factors, widths = [], [], []
        for name in names:
            streams = [feature_stream(d.recording, name) for d in sessions]
            counts = {s.n_channels for s in streams}
            if len(counts) > 1:
                raise DataError(
                    f"Feature stream '{name}' has {sorted(counts)} channels across the sessions trained "
                    "together; POSSM's feature projection needs one channel count per stream."
                )
            kinds.append(streams[0].kind)
            factors.append(bins_per_bin(streams[0], chunk_s))
            widths.append(counts.pop())
        return cls(tuple(names), tuple(kinds), tuple(factors), int(sum(widths)))

    def segment_features(self, seg: Segment, chunk_s: float) -> np.ndarray:
        """(n_chunks, width): each chunk's bins merged, streams side by side."""
        parts = [feature_between(seg.recording, n, seg.start, seg.end, chunk_s) for n in self.names]
        return np.concatenate(parts, axis=1)

    def chunk_features(self, chunk: SpikeChunk) -> np.ndarray:
        """(1, width) for one streaming chunk, from the chunk's own feature bins."""
        parts = [rebin(chunk.features[n], f, k) for n, f, k in zip(self.names, self.factors, self.kinds)]
        return np.concatenate(parts, axis=1)

    def train_stats(self, sessions: Sequence[TaskData], chunk_s: float) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([self.segment_features(s, chunk_s) for d in sessions for s in d.segments("train")])
        return x.mean(axis=0).astype(np.float32), (x.std(axis=0) + 1e-3).astype(np.float32)


class FeatureProjection(nn.Module):
    """Standardised chunk features -> a vector added to the chunk's flattened latents."""

    def __init__(self, width: int, latent_width: int, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean))
        self.register_buffer("std", torch.as_tensor(std))
        self.project = nn.Linear(width, latent_width)

    def forward(self, features: Tensor) -> Tensor:
        return self.project((features - self.mean) / self.std)
