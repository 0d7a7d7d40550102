"""Decoders that read each output from a sliding context window of spikes (POYO, NDT-2).

Such a model keeps no state but the spikes of its window: at each streaming chunk ``[s, e)`` the
outputs at the chunk's queries come from the window ``[max(origin, e - context_s), e)``, with
``origin`` the time the stream was reset (the segment start offline), so a fresh stream sees a
shorter window. This base owns that contract:

* streaming: ``reset`` / ``step`` buffer the window's spikes (with whatever the model caches per
  spike, :meth:`cache_spikes`) and hand the window to :meth:`predict_window`;
* offline: ``predict`` evaluates :meth:`predict_segment` per segment, which should evaluate exactly
  the streaming windows (:func:`bench.models.windows.streaming_windows`), or with
  ``stitches_windows`` the overlapping windows of :meth:`predict_stitched` (they see the future,
  so predict then deliberately differs from streaming);
* training: windows of the training config, drawn afresh every epoch at a random chunk phase
  when the model's ``random_windows`` parameter is set (:meth:`training_windows` chooses them);
  on classification (one readout query per trial) windows anchored on the queries instead, so
  that every trial is trained every epoch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from bench.models.base import SpikeChunk
from bench.models.torch_decoder import Examples, TorchDecoder, pad_collate
from bench.models.windows import query_windows, stitch_mean, tiled_windows
from bench.tasks.base import Segment, TaskKind
from bench.training.config import TrainConfig


class SpikeWindowBuffer:
    """The spikes of a stream's current window, in arrival blocks, each spike with its payloads
    (e.g. its unit, or its cached key and value); blocks are sliced, never copied, on eviction."""

    def __init__(self):
        self.blocks: list[tuple[np.ndarray, tuple]] = []

    def append(self, times: np.ndarray, *payloads) -> None:
        self.blocks.append((times, payloads))

    def evict_before(self, t: float) -> None:
        """Drop the spikes before ``t``."""
        while self.blocks and self.blocks[0][0][-1] < t:
            self.blocks.pop(0)
        if self.blocks and self.blocks[0][0][0] < t:
            times, payloads = self.blocks[0]
            j = int(np.searchsorted(times, t, side="left"))
            self.blocks[0] = (times[j:], tuple(x[j:] for x in payloads))

    def times(self) -> np.ndarray:
        return np.concatenate([b[0] for b in self.blocks]) if self.blocks else np.zeros(0, np.float64)

    def parts(self, i: int) -> list:
        """Payload ``i`` of every block, oldest first."""
        return [b[1][i] for b in self.blocks]


class SlidingWindowDecoder(TorchDecoder):
    """Base of the sliding-context-window decoders; see the module docstring."""

    # ---------------------------------------------------------------- to implement
    @property
    def context_s(self) -> float:
        raise NotImplementedError

    def predict_segment(self, seg: Segment) -> np.ndarray:
        """Offline outputs at ``seg``'s queries (the module is in eval mode, gradients off)."""
        raise NotImplementedError

    def open_stream(self, recording) -> None:
        """Per-stream setup at ``reset`` (tables of the recording's units, ...)."""

    def cache_spikes(self, chunk: SpikeChunk) -> tuple:
        """Per-spike payloads of a chunk's spikes kept in the window buffer (first axis: spikes)."""
        return (chunk.spike_units,)

    def predict_window(self, start: float, chunk: SpikeChunk) -> np.ndarray:
        """Outputs at ``chunk.query_times`` from the buffered window ``[start, chunk.end)``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- offline evaluation
    @property
    def stitches_windows(self) -> bool:
        """True when ``predict`` averages overlapping windows instead of streaming's windows."""
        return False

    @property
    def streams_like_predict(self) -> bool:
        return not self.stitches_windows

    @torch.no_grad()
    def predict(self, segments: Sequence[Segment]) -> list[np.ndarray]:
        self.module.eval()
        return [self.predict_segment(seg) for seg in segments]

    def predict_stitched(self, seg: Segment, window_s: float, step_s: float, batch_size: int) -> np.ndarray:
        """Windows of ``window_s`` every ``step_s`` (plus one aligned to the segment end, so every
        query is covered) through ``forward``, the outputs of overlapping windows averaged."""
        wins = tiled_windows([seg], window_s, step_s, self.chunk_s, cover_end=True, keep_empty=True)
        outputs = []
        for i in range(0, len(wins), batch_size):
            part = wins[i : i + batch_size]
            batch = {k: v.to(self.device) for k, v in pad_collate([self.encode(w) for w in part]).items()}
            outputs.extend(self.forward(batch).double().cpu().numpy())
        return self.denormalise(stitch_mean(seg, wins, outputs).astype(np.float32))

    # ---------------------------------------------------------------- training windows
    def training_windows(self, segments: Sequence[Segment], train: TrainConfig,
                         rng: np.random.Generator | None) -> list[Segment]:
        """One epoch's training windows (whole segments without ``window_s``). Regression (a query
        every sample): the training config's tiles, at a random chunk phase with ``rng``.
        Classification (one readout query per trial): one window per query chunk, ending at it or
        with ``rng`` at a random chunk after it (:func:`query_windows`); tiles at a random phase
        would hold a trial's readout only when one happens to reach the trial end."""
        if train.window_s is None:
            return list(segments)
        if self.spec.kind == TaskKind.classification:
            return query_windows(segments, train.window_s, self.chunk_s, rng)
        return tiled_windows(segments, train.window_s, train.window_step_s, self.chunk_s, rng)

    def training_examples(self, segments: Sequence[Segment], train: TrainConfig) -> Examples:
        """With ``random_windows`` and a training ``window_s``, windows drawn afresh every epoch
        (regression: the first of each segment at a random whole-chunk offset below the stride, the
        random window sampling POYO is trained with; classification: each readout's window at a
        random end after it); otherwise the same windows every epoch."""
        if train.window_s is None or not self.params.random_windows:
            return [self._example(w) for w in self.training_windows(segments, train, None)]
        rng = np.random.default_rng(self.seed + 1)
        return lambda epoch: [self._example(w) for w in self.training_windows(segments, train, rng)]

    # ---------------------------------------------------------------- streaming
    def reset(self, recording) -> None:
        self.stream_origin: float | None = None
        self.window_buffer = SpikeWindowBuffer()
        self.open_stream(recording)

    @torch.inference_mode()
    def step(self, chunk: SpikeChunk) -> np.ndarray:
        if self.stream_origin is None:
            self.stream_origin = chunk.start
        if chunk.spike_times.size:
            self.window_buffer.append(chunk.spike_times, *self.cache_spikes(chunk))
        start = max(self.stream_origin, chunk.end - self.context_s)
        self.window_buffer.evict_before(start)
        if chunk.query_times.size == 0:
            return np.zeros((0, self.spec.dim), np.float32)
        return self.predict_window(start, chunk)
