"""PCA-KNN: the single-character classifier of Willett et al. 2021 (their baseline in the POSSM
paper's handwriting table).

From the binned crossings of the ``window_ms`` before the readout: z-scoring per channel (with
the train trials' statistics: a streaming decoder cannot use the block means of the test trials
that the offline original subtracted), Gaussian smoothing in time, projection on the top
``n_components`` principal components of the class-averaged (trial-averaged) activity, then the
``k`` nearest training trials under a time-shift-tolerant distance (the smallest mean squared
distance over shifts of up to ``max_shift_ms``, a light form of the original's time warping).
Outputs are the neighbours' votes per class (plus a small tie-breaker by mean distance).

Streaming keeps the last ``window_ms`` of bins and classifies that buffer at each query time, so
a streamed trial gives exactly the offline output. It fits nothing by gradient descent: the
training "parameters" are the projection and the stored training trajectories.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pydantic import Field
from scipy.ndimage import gaussian_filter1d

from bench.errors import DataError
from bench.models.base import Decoder, SpikeChunk
from bench.models.binned import BinnedMixin, BinnedParams, query_bins
from bench.registry import models
from bench.tasks.base import Segment, TaskData, TaskKind
from bench.training.config import TrainConfig


class PcaKnnParams(BinnedParams):
    bin_ms: float = Field(10.0, ge=0.1, le=60_000, description="bin width in ms; must divide the chunk length")
    window_ms: float = Field(1500.0, gt=0, le=20_000, description="activity before the readout that is classified")
    smooth_ms: float = Field(30.0, ge=0, le=1000, description="SD of the Gaussian smoothing in time (0: none)")
    n_components: int = Field(15, ge=1, le=500, description="principal components of the trial averages kept")
    k: int = Field(10, ge=1, le=200, description="nearest neighbours that vote")
    max_shift_ms: float = Field(100.0, ge=0, le=2000, description="largest time shift tried by the distance")
    shift_step_ms: float = Field(20.0, gt=0, le=2000, description="step between the shifts tried")


@models.register("pca-knn")
class PcaKnn(BinnedMixin, Decoder):
    """Willett et al.'s PCA + k-nearest-neighbours character classifier."""

    Params = PcaKnnParams
    supported_kinds = frozenset({TaskKind.classification})

    @property
    def n_window(self) -> int:
        return max(1, int(round(self.params.window_ms / self.params.bin_ms)))

    def _windows(self, seg: Segment, inputs: np.ndarray | None = None) -> np.ndarray:
        """(n_queries, n_window, channels) raw inputs ending with each query's bin; NaN before the segment."""
        x = self.segment_inputs(seg) if inputs is None else inputs
        idx = query_bins(seg.start, seg.query_times, self.bin_s, x.shape[0])
        padded = np.concatenate([np.full((self.n_window, x.shape[1]), np.nan, np.float32), x])
        return np.stack([padded[i + 1 : i + 1 + self.n_window] for i in idx])

    def _trajectories(self, windows: np.ndarray) -> np.ndarray:
        """z-score (missing bins -> 0), smooth in time: (n, n_window, channels)."""
        z = (windows - self.mean) / self.std
        z = np.where(np.isnan(z), 0.0, z)
        if self.params.smooth_ms > 0:
            z = gaussian_filter1d(z, self.params.smooth_ms / self.params.bin_ms, axis=1, mode="nearest")
        return z

    def fit(self, sessions: Sequence[TaskData], train: TrainConfig, progress: bool = True) -> dict:
        data = sessions[0]
        self.spec = data.spec
        self.plan_inputs(data)
        segs = data.segments("train")
        if not segs:
            raise DataError(f"Model 'pca-knn': recording {data.recording.recording_id} has no train trials.")
        x = np.concatenate([self._windows(s) for s in segs])
        y = np.concatenate([s.targets for s in segs]).astype(np.int64)
        flat = x.reshape(-1, x.shape[2])
        self.mean = np.nanmean(flat, axis=0).astype(np.float32)
        self.std = (np.nanstd(flat, axis=0) + 1e-3).astype(np.float32)
        traj = self._trajectories(x)
        classes = np.unique(y)
        averages = np.stack([traj[y == c].mean(axis=0) for c in classes])  # (classes, time, channels)
        a = averages.reshape(-1, averages.shape[2])
        a = a - a.mean(axis=0)
        _, _, vt = np.linalg.svd(a, full_matrices=False)
        self.components = vt[: self.params.n_components].T.astype(np.float32)  # (channels, p)
        self.exemplars = traj @ self.components  # (n_train, time, p)
        self.labels = y
        steps = int(round(self.params.max_shift_ms / self.params.shift_step_ms))
        step = max(1, int(round(self.params.shift_step_ms / self.params.bin_ms)))
        self.shifts = [s * step for s in range(-steps, steps + 1) if abs(s * step) < self.n_window]
        acc = float(np.mean(self._classify(x).argmax(axis=1) == y))
        return {"train_trials": int(y.size), "train_accuracy_with_self": acc}

    def _classify(self, windows: np.ndarray) -> np.ndarray:
        """Class scores (n, classes) for raw windows (n, n_window, channels)."""
        proj = self._trajectories(windows) @ self.components  # (n, T, p)
        T = proj.shape[1]
        dist = np.full((proj.shape[0], self.exemplars.shape[0]), np.inf)
        for s in self.shifts:  # test shifted by s bins against every exemplar, on their overlap
            a = proj[:, max(0, s) : T + min(0, s)]
            b = self.exemplars[:, max(0, -s) : T - max(0, s)]
            d = (np.einsum("ntp,ntp->n", a, a)[:, None] + np.einsum("mtp,mtp->m", b, b)[None, :]
                 - 2 * np.einsum("ntp,mtp->nm", a, b)) / a.shape[1]
            dist = np.minimum(dist, d)
        k = min(self.params.k, dist.shape[1])
        nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
        scores = np.zeros((proj.shape[0], self.spec.dim))
        for i, row in enumerate(nearest):
            np.add.at(scores[i], self.labels[row], 1.0 / k)
            d = dist[i, row]
            for c in np.unique(self.labels[row]):  # tie-breaker: closer neighbours win
                scores[i, c] -= 1e-3 * d[self.labels[row] == c].mean() / (d.mean() + 1e-12)
        return scores.astype(np.float32)

    def predict(self, segments: Sequence[Segment]) -> list[np.ndarray]:
        return [self._classify(self._windows(seg)) if seg.query_times.size else np.zeros((0, self.spec.dim), np.float32)
                for seg in segments]

    def reset(self, recording) -> None:
        self._buffer = np.full((self.n_window, self.n_inputs), np.nan, np.float32)

    def step(self, chunk: SpikeChunk) -> np.ndarray:
        x = self.chunk_inputs(chunk)
        idx = query_bins(chunk.start, chunk.query_times, self.bin_s, x.shape[0])
        history = np.concatenate([self._buffer, x])
        self._buffer = history[-self.n_window :]
        if not idx.size:
            return np.zeros((0, self.spec.dim), np.float32)
        end = self.n_window + idx + 1  # position after each query's bin in `history`
        return self._classify(np.stack([history[e - self.n_window : e] for e in end]))

    def n_parameters(self) -> int:
        """The projection and the stored training trajectories (a nearest-neighbour model's memory)."""
        return int(self.components.size + self.exemplars.size + self.mean.size + self.std.size)
