"""Wiener filter: ridge regression of velocity on lagged binned counts or features (scikit-learn).

The classical BCI decoder. The ridge penalty is chosen on the validation split from a log grid.
For classification the same filter regresses one-hot class codes and its outputs are the class
scores (a ridge / linear-discriminant classifier). Streaming keeps the last ``n_lags`` bins and
applies the fitted weights to each new bin.
"""

from __future__ import annotations

import warnings
from typing import Annotated, Sequence

import numpy as np
from pydantic import Field
from scipy.linalg import LinAlgWarning
from sklearn.linear_model import Ridge

from bench.models.base import Decoder, SpikeChunk
from bench.models.binned import BinnedMixin, BinnedParams, LagBuffer, query_bins
from bench.data.views import lagged
from bench.registry import models
from bench.tasks.base import Segment, TaskData, TaskKind
from bench.training.config import TrainConfig


class WienerParams(BinnedParams):
    n_lags: int = Field(10, ge=0, le=100, description="number of past bins stacked with the current one")
    alphas: list[Annotated[float, Field(gt=0, le=1e12)]] = Field(
        default_factory=lambda: [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0], min_length=1, max_length=100,
        description="ridge penalties tried (the best on the validation split is kept): finite, > 0",
    )


@models.register("wiener")
class WienerFilter(BinnedMixin, Decoder):
    """Ridge on lagged bins; alpha selected on the valid split."""

    Params = WienerParams
    supported_kinds = frozenset({TaskKind.regression, TaskKind.classification})

    def _design(self, segments: Sequence[Segment]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xs, ys, ws = [], [], []
        for seg in segments:
            feats = lagged(self.segment_inputs(seg), self.params.n_lags)
            idx = query_bins(seg.start, seg.query_times, self.bin_s, feats.shape[0])
            xs.append(feats[idx])
            ys.append(self._codes(seg.targets))
            ws.append(seg.weights)
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)

    def _codes(self, targets: np.ndarray) -> np.ndarray:
        """Regression targets as they are; class labels as one-hot rows."""
        if self.spec.kind == TaskKind.classification:
            return np.eye(self.spec.dim)[targets]
        return targets

    def fit(self, sessions: Sequence[TaskData], train: TrainConfig, progress: bool = True) -> dict:
        data = sessions[0]
        self.spec = data.spec
        self.plan_inputs(data)
        x, y, w = self._design(data.segments("train"))
        xv, yv, wv = self._design(data.segments("valid") or data.segments("train"))
        self.x_mean, self.x_std = x.mean(axis=0), x.std(axis=0) + 1e-6
        xs, xvs = (x - self.x_mean) / self.x_std, (xv - self.x_mean) / self.x_std
        best = None
        for alpha in self.params.alphas:
            with warnings.catch_warnings():  # tiny alphas on collinear lags are expected to be ill-conditioned
                warnings.simplefilter("ignore", LinAlgWarning)
                ridge = Ridge(alpha=alpha).fit(xs, y, sample_weight=w)
            err = float(np.average(((ridge.predict(xvs) - yv) ** 2).mean(axis=1), weights=wv + 1e-12))
            if best is None or err < best[0]:
                best = (err, alpha, ridge)
        _, self.alpha, ridge = best
        # fold standardisation into the weights so streaming is one matrix product per bin
        self.coef = (ridge.coef_ / self.x_std).T.astype(np.float64)
        self.intercept = ridge.intercept_ - self.x_mean @ self.coef
        return {"alpha": self.alpha, "valid_mse": best[0]}

    def predict(self, segments: Sequence[Segment]) -> list[np.ndarray]:
        out = []
        for seg in segments:
            feats = lagged(self.segment_inputs(seg), self.params.n_lags)
            idx = query_bins(seg.start, seg.query_times, self.bin_s, feats.shape[0])
            out.append(feats[idx] @ self.coef + self.intercept)
        return out

    def reset(self, recording) -> None:
        self._lags = LagBuffer(self.n_inputs, self.params.n_lags)

    def step(self, chunk: SpikeChunk) -> np.ndarray:
        counts = self.chunk_inputs(chunk)
        feats = self._lags.features(counts)
        idx = query_bins(chunk.start, chunk.query_times, self.bin_s, counts.shape[0])
        return feats[idx] @ self.coef + self.intercept

    def n_parameters(self) -> int:
        return int(self.coef.size + self.intercept.size)
